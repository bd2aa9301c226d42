/**
 * The names of the workflows a list of approvals belongs to, fetched once
 * per distinct id (an approval carries only the id). A workflow that cannot
 * be read is simply shown by its id.
 */
import { useEffect, useState } from "react";
import { useWeft } from "../../api/weft";

export function useWorkflowNames(ids: string[]): ReadonlyMap<string, string> {
  const weft = useWeft();
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  const wanted = [...new Set(ids)].filter((id) => id && !names.has(id)).sort();
  const key = wanted.join(",");

  useEffect(() => {
    if (!key) return;
    let live = true;
    Promise.all(
      key.split(",").map((id) =>
        weft.workflows.get(id).then(
          (workflow) => [id, workflow.name] as const,
          () => [id, id] as const,
        ),
      ),
    ).then((found) => {
      if (live) setNames((known) => new Map([...known, ...found]));
    });
    return () => {
      live = false;
    };
  }, [key, weft]);

  return names;
}
