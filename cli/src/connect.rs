//! The connection: one channel to `--server`, with `--api-key` sent on
//! every call the way the SDK sends it (`authorization: Bearer …`).

use weft_sdk::Weft;

use crate::args::Global;
use crate::errors::{CliError, CliResult};

/// A client of the server the flags name. The channel connects lazily, so
/// a wrong address is reported by the first call, with its code.
pub fn connect(global: &Global) -> CliResult<Weft> {
    let endpoint = tonic::transport::Endpoint::from_shared(global.server.clone())
        .map_err(|e| CliError::input(format!("--server '{}' is not a URL: {e}", global.server)))?
        .connect_timeout(std::time::Duration::from_secs(5));
    let weft = Weft::from_channel(endpoint.connect_lazy());
    match global.api_key.as_deref().filter(|k| !k.is_empty()) {
        Some(key) => Ok(weft.with_api_key(key)?),
        None => Ok(weft),
    }
}
