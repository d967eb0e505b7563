//! The leaf layer: what every other layer may use and which uses nothing of concur's. Reading
//! `/proc`, signals and graceful stops, a private redis-server, and units for people.

pub mod proc;
pub mod redis_server;
pub mod signals;
pub mod units;
