//! Services of the public API whose behaviour arrives with later work.
//!
//! Their generated traits have default methods that answer UNIMPLEMENTED, so
//! every RPC is routed, listed by reflection, and refused clearly instead of
//! looking absent. Each type is replaced by a real implementation in its own
//! module when its issue lands.

use weft_proto::v1::schedule_service_server::ScheduleService;

/// ScheduleService: cron schedules arrive later.
pub struct UnbuiltSchedules;
impl ScheduleService for UnbuiltSchedules {}

