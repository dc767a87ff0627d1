//! Domain model shared by every Vigilo crate. Pure: no I/O, no clocks except
//! where a caller passes one in.

pub mod cloud;
pub mod errors;
pub mod event;
pub mod finding;
pub mod logsource;
pub mod normalize;

pub use errors::ErrorCode;
pub use event::{Event, Logsource, NewEvent, Origin};
pub use finding::{Finding, FindingStatus, Severity};
