//! The leaf layer: what every other layer may use and which uses nothing of concur's. Reading
//! `/proc`, signals and graceful stops, a private redis-server, ids, time, colour (only where wanted), and units for people.

pub mod host;
pub mod ids;
pub mod proc;
pub mod process;
pub mod redis_server;
pub mod signals;
pub mod socket;
pub mod style;
pub mod table;
pub mod time;
pub mod units;
