//! placeholder until the copy helper lands
use super::context::Context;
use crate::fsroot::Root;
use std::path::Path;
pub struct CopyOptions {
    pub chown: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    pub unpack_archives: bool,
}
pub struct SourceSet;
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct CopyError;
impl SourceSet {
    pub fn from_root(root: &Root, s: &[String]) -> Result<SourceSet, CopyError> {
        let _ = (root, s);
        todo!()
    }
    pub fn from_context(c: &Context, s: &[String]) -> Result<SourceSet, CopyError> {
        let _ = (c, s);
        todo!()
    }
}
pub fn copy(set: &SourceSet, root: &Root, dest: &Path, o: &CopyOptions) -> Result<(), CopyError> {
    let _ = (set, root, dest, o);
    todo!()
}
pub fn write_file(root: &Root, dest: &Path, b: &[u8], o: &CopyOptions) -> Result<(), CopyError> {
    let _ = (root, dest, b, o);
    todo!()
}
