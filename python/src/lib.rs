//! The Python packaging vocabulary every stage speaks, below all of them: the
//! interpreter a build is for ([`Interpreter`], asked once), wheel file names
//! ([`WheelFilename`]), RECORD rows ([`record`]), METADATA and WHEEL headers
//! ([`metadata`]) and package names ([`name`]).
//! One parser of each, so two stages never disagree about what a name means.

pub mod interpreter;
pub mod limits;
pub mod metadata;
pub mod name;
pub mod record;
pub mod wheel_filename;

pub use interpreter::{BuildIdentity, Interpreter, InterpreterError, VenvIdentity};
pub use limits::Limits;
pub use name::normalise_name;
pub use wheel_filename::WheelFilename;
