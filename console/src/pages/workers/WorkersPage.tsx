//! Placeholder until this page is built.
export default function WorkersPage() {
  return <h1>WorkersPage: not built yet</h1>;
}
