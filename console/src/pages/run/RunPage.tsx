//! Placeholder until this page is built.
export default function RunPage() {
  return <h1>RunPage: not built yet</h1>;
}
