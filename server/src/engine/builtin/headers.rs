//! A built-in step's headers as they leave: each value's
//! `{{ secrets.NAME }}` references (kept unresolved by the core, so the
//! task row holds only the names) are replaced right before the request is
//! built, from the task's tenant's secrets ([`SecretVault`]). The resolved
//! values live only in the request; every failure names the header and
//! the secret, never a value.

use std::collections::BTreeMap;

use super::vault::ResolveError;
use super::{Finish, Job};
use crate::expr::parse_header_value;

/// The step's headers with their secrets filled in, in name order, or how
/// the attempt ends when one cannot be.
pub(super) async fn resolve(job: &Job, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, String)>, Finish> {
    let tenant = job.leased.tenant_id.as_str();
    let mut headers = Vec::with_capacity(job.spec.headers.len());
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for (header, written) in job.spec.headers.iter().filter(|(name, _)| keep(name)) {
        let template = parse_header_value(written).map_err(|e| Finish::Failed {
            error: format!("INVALID_HEADER: header '{header}': {e}"),
            retryable: false,
        })?;
        for name in template.secret_names() {
            if found.contains_key(name) {
                continue;
            }
            let value = match job.settings.vault.resolve(tenant, name).await {
                Ok(Some(value)) => value,
                Ok(None) => {
                    let error = format!(
                        "SECRET_NOT_FOUND: header '{header}' references secret '{name}', which tenant '{tenant}' has \
                         neither stored (SecretService) nor configured ([secrets.values.{tenant}])"
                    );
                    return Err(Finish::Failed { error, retryable: false });
                }
                Err(ResolveError::Unavailable) => {
                    let error = format!("SECRET_UNAVAILABLE: secret '{name}' could not be read now; retrying");
                    return Err(Finish::Failed { error, retryable: true });
                }
                Err(ResolveError::Unopenable) => {
                    let error = format!(
                        "SECRET_UNREADABLE: stored secret '{name}' cannot be opened with the configured [secrets] key"
                    );
                    return Err(Finish::Failed { error, retryable: false });
                }
            };
            found.insert(name.to_owned(), value);
        }
        let value = template
            .render(|name| found.get(name).cloned().ok_or(()))
            .map_err(|()| Finish::Failed { error: format!("SECRET_NOT_FOUND: header '{header}'"), retryable: false })?;
        if http::HeaderValue::from_str(&value).is_err() {
            // Only the names: the value may hold a secret.
            let error = format!("INVALID_HEADER: the value of header '{header}' is not a valid HTTP header value");
            return Err(Finish::Failed { error, retryable: false });
        }
        headers.push((header.clone(), value));
    }
    Ok(headers)
}
