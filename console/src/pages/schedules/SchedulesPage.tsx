//! Placeholder until this page is built.
export default function SchedulesPage() {
  return <h1>SchedulesPage: not built yet</h1>;
}
