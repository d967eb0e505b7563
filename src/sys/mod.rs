//! The leaf layer: what every other layer may use and which uses nothing of concur's but its
//! errors. Reading `/proc` (and, elsewhere, sysinfo), machine facts, private temp dirs and files,
//! signals and graceful stops, a private redis-server, sockets, ids, time, colour (only where
//! wanted), and units for people.

pub mod cpu;
pub mod host;
pub mod ids;
pub mod private;
pub mod proc;
pub mod process;
pub mod redis_server;
pub mod signals;
pub mod socket;
pub mod style;
pub mod table;
pub mod time;
pub mod units;
