/**
 * A workflow's tags as small pills; on the list each is a button that
 * filters the list by that tag.
 */
export function Tags({ tags, onPick }: { tags: string[]; onPick?: (tag: string) => void }) {
  if (tags.length === 0) return <span className="muted">—</span>;
  return (
    <ul className="tags" aria-label="Tags">
      {tags.map((tag) => (
        <li key={tag}>
          {onPick ? (
            <button type="button" className="tag" onClick={() => onPick(tag)} aria-label={`Show workflows tagged ${tag}`}>
              {tag}
            </button>
          ) : (
            <span className="tag">{tag}</span>
          )}
        </li>
      ))}
    </ul>
  );
}
