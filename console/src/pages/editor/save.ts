/**
 * Saving the editor's definition: a new workflow is created at version 1;
 * an existing one gets its next version with the change summary, every
 * definition field named in the update mask so a field removed from the
 * text is cleared rather than kept. Both throw the SDK's typed errors
 * (with field violations) for the page to show.
 */
import { typed, type Weft } from "weftflow";
import { DEFINITION_FIELDS, type WorkflowInit } from "../workflows/document";

/** Saves and returns the workflow's id. */
export async function saveDefinition(weft: Weft, workflow: WorkflowInit, existingId: string | undefined, changeSummary: string): Promise<string> {
  if (!existingId) {
    const created = await typed(weft.raw.workflows.createWorkflow({ workflow }));
    return created.workflow?.id ?? "";
  }
  const updated = await typed(
    weft.raw.workflows.updateWorkflow({
      workflow: { ...workflow, id: existingId, changeSummary },
      updateMask: { paths: DEFINITION_FIELDS },
    }),
  );
  return updated.workflow?.id ?? existingId;
}
