//! Reading a file once, and what its metadata says: the version that was read
//! ([`FileStamp`]) and who else may read it.
//!
//! A file is opened once, `fstat`ed through the open descriptor and read to the end into
//! memory; everything after that (parsing, checking, the permission warning) works on what was
//! read, never on the path again. The stamp is taken before the read, so a file that is
//! rewritten while (or after) it is read has a different stamp the next time it is looked at.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The version of a file: which inode it is and when it last changed. Two stamps differ after
/// any rewrite in place (size, modification or change time), a replacement by rename (inode),
/// or a `chmod`/`chown` (change time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of what `meta` describes.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of the file at `path` now (following symbolic links), or `None` if it cannot
    /// be `stat`ed.
    pub fn of_path(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::of(&m))
    }
}

/// A text file read once into memory, with the metadata of the descriptor it was read from.
#[derive(Debug, Clone)]
pub struct FileText {
    /// The path it was opened by.
    pub path: PathBuf,
    /// The whole contents.
    pub text: String,
    /// The version that was read.
    pub stamp: FileStamp,
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// The owning user ID.
    pub uid: u32,
    /// The owning group ID.
    pub gid: u32,
}

impl FileText {
    /// Opens `path`, `fstat`s it and reads it to the end. The contents must be UTF-8.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
            stamp: FileStamp::of(&meta),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    /// Who besides the owner can read the file, in words (see [`readable_by`]).
    pub fn readable_by(&self) -> Option<Readers> {
        readable_by(self.mode)
    }
}

/// Who besides its owner can read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readers {
    /// Members of the file's group (mode `g+r`, not `o+r`).
    Group,
    /// Every user (mode `o+r`).
    Everyone,
}

impl Readers {
    /// In words, as in "readable by its group".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Group => "its group",
            Self::Everyone => "every user",
        }
    }
}

/// Who besides the owner can read a file with permission bits `mode`, or `None` for the owner
/// only.
pub fn readable_by(mode: u32) -> Option<Readers> {
    if mode & 0o004 != 0 {
        Some(Readers::Everyone)
    } else if mode & 0o040 != 0 {
        Some(Readers::Group)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn readers_of_modes() {
        assert_eq!(readable_by(0o600), None);
        assert_eq!(readable_by(0o400), None);
        assert_eq!(readable_by(0o640), Some(Readers::Group));
        assert_eq!(readable_by(0o604), Some(Readers::Everyone));
        assert_eq!(readable_by(0o644), Some(Readers::Everyone));
        assert_eq!(readable_by(0o620), None, "group write only is not read");
    }

    #[test]
    fn stamps_change_with_every_rewrite() {
        let dir = std::env::temp_dir().join(format!("l2tpd-files-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.yaml");
        std::fs::write(&path, "one\n").unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o640)).unwrap();
        let a = FileText::read(&path).unwrap();
        assert_eq!(a.text, "one\n");
        assert_eq!(a.mode, 0o640);
        assert_eq!(a.readable_by(), Some(Readers::Group));
        assert_eq!(FileStamp::of_path(&path), Some(a.stamp));

        // Same modification time, other contents (an editor writing in place within one
        // timestamp tick): the size and change time still tell.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, "one two\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let b = FileStamp::of_path(&path).unwrap();
        assert_ne!(b, a.stamp);

        // A chmod alone changes the stamp (a file made readable again is retried). The kernel's
        // file times move in clock ticks of a few milliseconds: let one pass first.
        std::thread::sleep(std::time::Duration::from_millis(30));
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
        assert_ne!(FileStamp::of_path(&path).unwrap(), b);

        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(FileStamp::of_path(&path), None);
        assert_eq!(
            FileText::read(&path).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }
}
