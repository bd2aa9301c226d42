//! Webhook trigger blocks of the graph dialect: which `webhook` block is a
//! trigger (something outside starts the run through it) rather than an
//! outbound step, and the credentials a trigger carries on its config.
//!
//! A `webhook` block is a trigger when nothing flows into it: no edge
//! targets it and its config names no `url`. Any other `webhook` block is
//! the outbound step it always was. A trigger runs as a pass-through step
//! that completes at once with the run's input as its output, like a
//! `starter` block.
//!
//! Its config holds only `webhook_id` and `webhook_secret`, which the server
//! writes on every save ([`assign_credentials`], pure: the fresh values are
//! passed in). A definition has at most one trigger block.

use serde_json::{Map, Value};

use super::problem::{Problem, ProblemCode};
use crate::model::definition::{Block, Definition, Edge};

/// The block type of triggers (and of outbound webhook steps).
pub const TRIGGER_BLOCK_TYPE: &str = "webhook";
/// Config key of a trigger's webhook id.
pub const WEBHOOK_ID_KEY: &str = "webhook_id";
/// Config key of a trigger's webhook secret.
pub const WEBHOOK_SECRET_KEY: &str = "webhook_secret";
/// Longest webhook id or secret a config may hold, in bytes.
pub const MAX_CREDENTIAL_LEN: usize = 256;

/// A trigger's webhook id and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookCredentials {
    /// `wh_…`: the last part of the trigger's URL.
    pub webhook_id: String,
    /// What callers present (or sign with).
    pub secret: String,
}

/// Whether `block` is a trigger of a graph with `edges`.
pub fn is_trigger(block: &Block, edges: &[Edge]) -> bool {
    block.kind == TRIGGER_BLOCK_TYPE
        && !edges.iter().any(|edge| edge.target == block.id)
        && !block.config.as_ref().is_some_and(|config| config.contains_key("url"))
}

/// The definition's trigger block, if it has one (the first, when a
/// definition invalidly has several).
pub fn trigger_block(def: &Definition) -> Option<&Block> {
    def.blocks.iter().find(|block| is_trigger(block, &def.edges))
}

/// The credentials a trigger block's config holds, when it holds both.
pub fn credentials(block: &Block) -> Option<WebhookCredentials> {
    let config = block.config.as_ref()?;
    let text = |key| config.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    Some(WebhookCredentials { webhook_id: text(WEBHOOK_ID_KEY)?, secret: text(WEBHOOK_SECRET_KEY)? })
}

/// Writes credentials on every trigger block of `def`: the pair the same
/// block (by id) had in `previous` (the version this one replaces), else
/// one from `fresh`. Values the author wrote are replaced: the server owns
/// them, so a pair copied from another workflow (or a template) never
/// makes two workflows share a webhook.
pub fn assign_credentials(
    def: &mut Definition,
    previous: Option<&Definition>,
    fresh: &mut dyn FnMut() -> WebhookCredentials,
) {
    let edges = def.edges.clone();
    for block in def.blocks.iter_mut().filter(|block| is_trigger(block, &edges)) {
        let kept = previous
            .and_then(|prev| prev.blocks.iter().find(|b| b.id == block.id && is_trigger(b, &prev.edges)))
            .and_then(credentials);
        let pair = kept.unwrap_or_else(&mut *fresh);
        let config = block.config.get_or_insert_with(Map::new);
        config.insert(WEBHOOK_ID_KEY.into(), Value::String(pair.webhook_id));
        config.insert(WEBHOOK_SECRET_KEY.into(), Value::String(pair.secret));
    }
}

/// Problems of trigger block `block` (index `i` in `blocks`): a config
/// holding anything but the credentials, credentials that are not short
/// text, or a second trigger in the graph (`first` is false).
pub fn check_trigger(block: &Block, i: usize, first: bool, problems: &mut Vec<Problem>) {
    let mut report = |field: String, message: String| {
        problems.push(Problem::new(&block.id, field, ProblemCode::InvalidField, message));
    };
    if !first {
        report(
            format!("blocks[{i}].type"),
            format!(
                "Block '{}' is a second webhook trigger (a webhook block with no incoming edge and no url); a \
                 workflow has at most one",
                block.id
            ),
        );
    }
    for (key, value) in block.config.iter().flatten() {
        let field = format!("blocks[{i}].config.{key}");
        match key.as_str() {
            WEBHOOK_ID_KEY | WEBHOOK_SECRET_KEY => match value {
                Value::String(text) if text.len() <= MAX_CREDENTIAL_LEN => {}
                _ => report(field, format!("Block '{}' has {key} that is not text of at most 256 bytes", block.id)),
            },
            _ => report(
                field,
                format!(
                    "Block '{}' is a webhook trigger (no incoming edge and no url), whose config holds only \
                     {WEBHOOK_ID_KEY} and {WEBHOOK_SECRET_KEY}, not '{key}'; give it a url (and an upstream \
                     block) to make it an outbound webhook step",
                    block.id
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn graph(value: Value) -> Definition {
        serde_json::from_value(value).expect("test definition deserializes")
    }

    fn counter() -> impl FnMut() -> WebhookCredentials {
        let mut n = 0;
        move || {
            n += 1;
            WebhookCredentials { webhook_id: format!("wh_{n}"), secret: format!("s{n}") }
        }
    }

    #[test]
    fn a_webhook_block_with_no_input_and_no_url_is_a_trigger() {
        let def = graph(json!({
            "blocks": [
                {"id": "hook", "type": "webhook"},
                {"id": "out", "type": "webhook", "config": {"url": "https://x.example/"}},
                {"id": "after", "type": "webhook"},
                {"id": "lone", "type": "webhook", "config": {"url": "https://x.example/"}}
            ],
            "edges": [{"source": "hook", "target": "out"}, {"source": "out", "target": "after"}]
        }));
        let triggers: Vec<&str> =
            def.blocks.iter().filter(|b| is_trigger(b, &def.edges)).map(|b| b.id.as_str()).collect();
        assert_eq!(triggers, ["hook"]);
    }

    #[test]
    fn credentials_are_kept_by_block_id_and_fresh_otherwise() {
        let mut fresh = counter();
        let mut first = graph(json!({"blocks": [{"id": "hook", "type": "webhook"}], "edges": []}));
        assign_credentials(&mut first, None, &mut fresh);
        let pair = credentials(&first.blocks[0]).unwrap();
        assert_eq!(pair, WebhookCredentials { webhook_id: "wh_1".into(), secret: "s1".into() });

        // A re-save that omits them (or writes others) keeps the pair.
        let mut again = graph(json!({"blocks": [
            {"id": "hook", "type": "webhook", "config": {"webhook_id": "wh_other", "webhook_secret": "x"}}
        ], "edges": []}));
        assign_credentials(&mut again, Some(&first), &mut fresh);
        assert_eq!(credentials(&again.blocks[0]), Some(pair));

        // Another block id gets its own.
        let mut renamed = graph(json!({"blocks": [{"id": "door", "type": "webhook"}], "edges": []}));
        assign_credentials(&mut renamed, Some(&first), &mut fresh);
        assert_eq!(credentials(&renamed.blocks[0]).unwrap().webhook_id, "wh_2");
    }

    #[test]
    fn outbound_webhook_blocks_get_no_credentials() {
        let mut def = graph(json!({"blocks": [
            {"id": "a", "type": "starter"},
            {"id": "b", "type": "webhook", "config": {"url": "https://x.example/"}}
        ], "edges": [{"source": "a", "target": "b"}]}));
        let before = def.clone();
        assign_credentials(&mut def, None, &mut counter());
        assert_eq!(def, before);
    }

    #[test]
    fn a_trigger_config_with_other_keys_or_a_second_trigger_is_reported() {
        let block: Block =
            serde_json::from_value(json!({"id": "h", "type": "webhook", "config": {"method": "POST"}})).unwrap();
        let mut problems = Vec::new();
        check_trigger(&block, 2, false, &mut problems);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["blocks[2].type", "blocks[2].config.method"]);
    }
}
