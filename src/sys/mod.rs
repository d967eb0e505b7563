//! The leaf layer: what every other layer may use and which uses nothing of concur's but its
//! errors. Reading `/proc`, private temp dirs and files, signals and graceful stops, a private
//! redis-server, ids, time, and units for people.

pub mod ids;
pub mod private;
pub mod proc;
pub mod process;
pub mod redis_server;
pub mod signals;
pub mod table;
pub mod time;
pub mod units;
