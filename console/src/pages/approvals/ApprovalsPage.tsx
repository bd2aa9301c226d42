//! Placeholder until this page is built.
export default function ApprovalsPage() {
  return <h1>ApprovalsPage: not built yet</h1>;
}
