//! Placeholder until this page is built.
export default function StartRunPage() {
  return <h1>StartRunPage: not built yet</h1>;
}
