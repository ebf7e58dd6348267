//! placeholder until the copy helper lands
use std::path::Path;
pub struct Context;
impl Context {
    pub fn open(dir: &Path, dockerfile: Option<&Path>) -> std::io::Result<Context> {
        let _ = (dir, dockerfile);
        todo!()
    }
}
