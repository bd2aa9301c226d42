/** The text a new workflow starts from: the smallest valid definition, to edit. */
export const STARTER = `{
  "name": "my-workflow",
  "description": "What this workflow does",
  "tags": [],
  "steps": [
    {
      "id": "first",
      "type": "agent",
      "agent": "my-agent",
      "task": "Work on {{ input }}"
    }
  ]
}
`;
