//! Services of the public API whose behaviour arrives with later work.
//!
//! Their generated traits have default methods that answer UNIMPLEMENTED, so
//! every RPC is routed, listed by reflection, and refused clearly instead of
//! looking absent. Each type is replaced by a real implementation in its own
//! module when its issue lands.

use weft_proto::v1::template_service_server::TemplateService;
use weft_proto::v1::trigger_service_server::TriggerService;

/// TemplateService: templates arrive later.
pub struct UnbuiltTemplates;
impl TemplateService for UnbuiltTemplates {}

/// TriggerService: deploy/arm webhooks arrive later.
pub struct UnbuiltTriggers;
impl TriggerService for UnbuiltTriggers {}
