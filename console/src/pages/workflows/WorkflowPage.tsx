//! Placeholder until this page is built.
export default function WorkflowPage() {
  return <h1>WorkflowPage: not built yet</h1>;
}
