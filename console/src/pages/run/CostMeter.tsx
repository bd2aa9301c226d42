/**
 * A cost against its cap, as text ("1.20 USD of 5.00 USD cap") and as a
 * meter (role=meter with its values, so assistive tech reads the same
 * numbers); past the cap it says so in words, not only in colour. Without
 * a cap it is the text alone.
 */
import type { Cost } from "weftflow";
import { money } from "../../ui/format";

export interface CostMeterProps {
  /** Accessible name of the meter, e.g. "Run cost against its cap". */
  label: string;
  cost: Cost | null;
  cap: Cost | null | undefined;
  /** What the cap is called in the text ("cap", "per-step cap"). */
  capName?: string;
}

export function CostMeter({ label, cost, cap, capName = "cap" }: CostMeterProps) {
  if (!cap || cap.amount <= 0) {
    return <span className="cost-text">{cost ? money(cost) : "none"} (no {capName})</span>;
  }
  const spent: Cost = cost ?? { amount: 0, currency: cap.currency };
  if (spent.currency.toLowerCase() !== cap.currency.toLowerCase()) {
    return <span className="cost-text">{`${money(spent)} (${capName}: ${money(cap)}, another currency)`}</span>;
  }
  const text = `${money(spent)} of ${money(cap)} ${capName}`;
  const over = spent.amount > cap.amount;
  const share = Math.min(1, spent.amount / cap.amount);
  return (
    <span className="cost-meter">
      <span
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={cap.amount / 100}
        aria-valuenow={Math.min(spent.amount, cap.amount) / 100}
        aria-valuetext={text}
        className={`cost-bar${over ? " cost-bar-over" : share >= 0.8 ? " cost-bar-near" : ""}`}
      >
        <span className="cost-fill" style={{ width: `${share * 100}%` }} />
      </span>
      <span className="cost-text">
        {text}
        {over && <strong className="cost-over"> — over the {capName}</strong>}
      </span>
    </span>
  );
}
