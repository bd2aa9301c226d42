//! Placeholder until this page is built.
export default function RunsPage() {
  return <h1>RunsPage: not built yet</h1>;
}
