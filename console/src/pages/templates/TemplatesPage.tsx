//! Placeholder until this page is built.
export default function TemplatesPage() {
  return <h1>TemplatesPage: not built yet</h1>;
}
