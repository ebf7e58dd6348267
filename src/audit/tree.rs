//! What the audit remembers of one path across the layers: the [`Node`] (copies, sizes,
//! the layers that wrote and deleted it) and its current [`Live`] entry of some [`Kind`].
//!
//! `scan` fills these while streaming the layer blobs; the rules and the sharing report
//! read them. They live apart from both so that neither has to import the other.

/// What kind of entry a path holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file (the only kind with bytes).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to an earlier entry.
    Hardlink,
    /// A device, FIFO or anything else.
    Other,
}

/// The entry a path holds at the end of the layers scanned so far.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    /// What the entry is.
    pub kind: Kind,
    /// Its bytes (0 for anything but a regular file).
    pub size: u64,
    /// Its permission and setuid/setgid/sticky bits, from the tar header.
    pub mode: u32,
    /// The layer that wrote it.
    pub layer: usize,
    /// A core dump, by name and ELF header.
    pub core: bool,
    /// SHA-256 of the content, when content hashing was on for its layer.
    pub hash: Option<[u8; 32]>,
}

/// Everything remembered about one path across all layers.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// The current entry; `None` once a later layer deleted it.
    pub live: Option<Live>,
    /// Sum of the sizes of every copy (a deletion is a copy of size 0).
    pub total: u64,
    /// The smallest copy (0 once the path was deleted).
    pub min: u64,
    /// Number of copies, deletions included.
    pub copies: u32,
    /// Layer of the first copy.
    pub first_layer: usize,
    /// Layer of the last copy or deletion.
    pub last_layer: usize,
    /// Whether the last change was a deletion.
    pub deleted: bool,
}
