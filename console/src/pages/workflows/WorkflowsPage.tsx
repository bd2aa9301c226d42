//! Placeholder until this page is built.
export default function WorkflowsPage() {
  return <h1>WorkflowsPage: not built yet</h1>;
}
