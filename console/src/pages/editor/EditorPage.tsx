//! Placeholder until this page is built.
export default function EditorPage() {
  return <h1>EditorPage: not built yet</h1>;
}
