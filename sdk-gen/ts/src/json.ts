/**
 * JSON to and from protobuf's `google.protobuf.Value` (Struct fields are
 * already plain `JsonObject`s in the generated code), and money. The
 * client's results are already native (native.ts); these serve whoever
 * works with the generated messages (`.raw`, `weft.raw`).
 */
import { create, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { MoneySchema, type Money } from "./gen/weft/v1/common_pb.js";

export type { JsonObject, JsonValue };

/** A JSON value as a protobuf `Value`. */
export function toValue(json: JsonValue): Value {
  return fromJson(ValueSchema, json);
}

/**
 * `value` as `JSON.stringify` writes it: `undefined` members dropped, a
 * `Date` (anything with `toJSON`) as its JSON, nothing at all as `null`.
 * Throws on what JSON cannot hold (a `bigint`, a cycle). Handlers' answers
 * go through this, so a JavaScript value means what it means everywhere
 * else, rather than a `Date` silently becoming `{}`.
 */
export function asJson(value: unknown): JsonValue {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as JsonValue);
}

/** A protobuf `Value` as JSON (`null` when unset). */
export function fromValue(value: Value | undefined): JsonValue {
  return value === undefined ? null : toJson(ValueSchema, value);
}

/** Money as written by users: whole minor units (cents) and a currency. */
export interface MoneyInit {
  amount: number | bigint;
  currency: string;
}

/** A {@link MoneyInit} as the `Money` message. */
export function toMoney(money: MoneyInit): Money {
  return create(MoneySchema, { amount: BigInt(money.amount), currency: money.currency });
}

/** "12 usd cents"-style text for logs, of a `Cost` or a `Money`; "0" when unset. */
export function formatMoney(money: MoneyInit | null | undefined): string {
  return money ? `${money.amount} ${money.currency} cents` : "0";
}
