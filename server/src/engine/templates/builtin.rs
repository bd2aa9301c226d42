//! The built-in templates: JSON files in the repository's `templates/`
//! folder, embedded in the binary when it is built, so every server offers
//! the same catalogue with nothing to install. Each file is a template
//! (`id`, `name`, `description`, `category`, `tags`) whose `workflow` is a
//! definition in the documented step JSON; the unit test below compiles
//! every one, so a broken file fails the build's tests rather than a user's
//! install.

use std::sync::OnceLock;

use serde::Deserialize;

use super::Template;
use crate::model::Definition;

/// The files, by name, as embedded.
const FILES: &[(&str, &str)] = &[
    ("lead-enrichment.json", include_str!("../../../../templates/lead-enrichment.json")),
    ("approval-email.json", include_str!("../../../../templates/approval-email.json")),
    ("fetch-and-notify.json", include_str!("../../../../templates/fetch-and-notify.json")),
    ("map-reduce-summary.json", include_str!("../../../../templates/map-reduce-summary.json")),
    ("scheduled-report.json", include_str!("../../../../templates/scheduled-report.json")),
];

/// When the built-in set last changed (2026-12-07T00:00:00Z): their
/// `create_time`, the same on every server of this version.
const DATED_MS: i64 = 1_796_601_600_000;

/// One file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: String,
    name: String,
    description: String,
    category: String,
    #[serde(default)]
    tags: Vec<String>,
    workflow: Definition,
}

/// A file as a template, or why it is not one.
fn parse(name: &str, text: &str) -> Result<Template, String> {
    let file: File = serde_json::from_str(text).map_err(|e| format!("templates/{name}: {e}"))?;
    Ok(Template {
        id: file.id,
        name: file.name,
        description: file.description,
        category: file.category,
        tags: file.tags,
        is_builtin: true,
        definition: Some(file.workflow),
        created_ms: DATED_MS,
    })
}

/// Every built-in template, ordered by name. A file that does not parse
/// (which the tests rule out) is logged and left out, never a panic.
pub fn all() -> &'static [Template] {
    static ALL: OnceLock<Vec<Template>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut templates: Vec<Template> = FILES
            .iter()
            .filter_map(|(name, text)| match parse(name, text) {
                Ok(template) => Some(template),
                Err(why) => {
                    tracing::error!(error = %why, "a built-in template cannot be read; it is left out");
                    None
                }
            })
            .collect();
        templates.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        templates
    })
}

/// The built-in template with this id.
pub fn find(id: &str) -> Option<&'static Template> {
    all().iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::engine::compile;
    use crate::engine::templates::{MAX_CATEGORY_CHARS, check_labels};

    /// Every file parses, is a valid definition in the core compiler's
    /// eyes, carries a description, a category and an input schema, and
    /// keeps the bounds user templates are held to.
    #[test]
    fn every_builtin_template_compiles_and_is_described() {
        let mut ids = HashSet::new();
        for (name, text) in FILES {
            let template = parse(name, text).unwrap_or_else(|why| panic!("{why}"));
            let mut definition = template.definition.clone().expect("a definition");
            let mut problems = compile::normalize(&mut definition);
            problems.extend(compile::validate(&definition));
            assert_eq!(problems, [], "{name}");
            compile::compile(&definition).unwrap_or_else(|p| panic!("{name}: {p:?}"));
            assert!(!template.description.is_empty() && !template.category.is_empty(), "{name}");
            assert!(template.category.chars().count() <= MAX_CATEGORY_CHARS, "{name}");
            assert!(definition.input_schema.is_some(), "{name} has an inputSchema");
            check_labels(&template.name, &template.description, &template.category, &template.tags)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!template.id.starts_with(super::super::ID_PREFIX), "{name}: built-in ids are slugs");
            assert_eq!(format!("{}.json", template.id), *name, "the file is named after the id");
            assert!(ids.insert(template.id.clone()), "{name}: ids are unique");
        }
        assert_eq!(all().len(), FILES.len());
        let names: Vec<&str> = all().iter().map(|t| t.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "built-ins are listed by name");
    }
}
