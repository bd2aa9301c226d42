//! The bounds of TemplateService and their checks: every refusal names
//! its field, and nothing is stored when one fails.

use crate::engine::EngineError;
use crate::engine::workflows::MAX_NAME_CHARS;

/// What user template ids start with (then 26 lower-case characters).
pub const ID_PREFIX: &str = "tmpl_";
/// Longest template id a request may name, characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest template name, characters (as a workflow name).
pub const MAX_TEMPLATE_NAME_CHARS: usize = MAX_NAME_CHARS;
/// Longest description, characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest category, characters.
pub const MAX_CATEGORY_CHARS: usize = 64;
/// Most tags on a template, and the longest tag, characters.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 64;
/// Largest saved definition, bytes of JSON: listings carry definitions,
/// so each is kept small enough for a page of them to stay reasonable.
pub const MAX_DEFINITION_BYTES: usize = 1024 * 1024;
/// Most templates one tenant may save (built-ins do not count).
pub const MAX_TEMPLATES_PER_TENANT: u32 = 500;

/// NOT_FOUND for a template id, shown cut to the longest id.
pub(super) fn not_found(id: &str) -> EngineError {
    let shown: String = id.chars().take(MAX_ID_CHARS).collect();
    EngineError::NotFound { what: format!("template '{shown}'"), reason: "TEMPLATE_NOT_FOUND" }
}

/// A template id named by a request, checked.
pub(super) fn check_id(id: &str) -> Result<(), EngineError> {
    if id.trim().is_empty() {
        return Err(EngineError::invalid("template_id", "a template id is required"));
    }
    if id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        let message = format!("a template id is at most {MAX_ID_CHARS} characters, without control characters");
        return Err(EngineError::invalid("template_id", message));
    }
    Ok(())
}

/// A display name (template or installed workflow), checked.
pub(super) fn check_name(field: &str, name: &str) -> Result<(), EngineError> {
    if name.trim().is_empty() {
        return Err(EngineError::invalid(field, "a name is required"));
    }
    if name.chars().count() > MAX_TEMPLATE_NAME_CHARS || name.chars().any(char::is_control) {
        let message = format!("a name is 1 to {MAX_TEMPLATE_NAME_CHARS} characters, without control characters");
        return Err(EngineError::invalid(field, message));
    }
    Ok(())
}

/// A category (of a template or a filter), checked.
pub(super) fn check_category(field: &str, category: &str) -> Result<(), EngineError> {
    if category.chars().count() > MAX_CATEGORY_CHARS || category.chars().any(char::is_control) {
        let message = format!("a category is at most {MAX_CATEGORY_CHARS} characters, without control characters");
        return Err(EngineError::invalid(field, message));
    }
    Ok(())
}

/// Tags (of a template or an installed workflow), checked.
pub(super) fn check_tags(field: &str, tags: &[String]) -> Result<(), EngineError> {
    if tags.len() > MAX_TAGS {
        return Err(EngineError::invalid(field, format!("at most {MAX_TAGS} tags are allowed")));
    }
    match tags.iter().position(|t| t.is_empty() || t.chars().count() > MAX_TAG_CHARS) {
        Some(i) => {
            Err(EngineError::invalid(format!("{field}[{i}]"), format!("a tag is 1 to {MAX_TAG_CHARS} characters")))
        }
        None => Ok(()),
    }
}

/// The labels of a template to save, checked.
pub(crate) fn check_labels(name: &str, description: &str, category: &str, tags: &[String]) -> Result<(), EngineError> {
    check_name("template.name", name)?;
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        let message = format!("the description is over the {MAX_DESCRIPTION_CHARS}-character limit");
        return Err(EngineError::invalid("template.description", message));
    }
    check_category("template.category", category)?;
    check_tags("template.tags", tags)
}
