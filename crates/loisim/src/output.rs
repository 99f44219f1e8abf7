//! Writing output files atomically: a temporary file in the destination's directory, renamed
//! over the destination only once it is complete. A failed run leaves no partial file.

use crate::{Error, Result};
use npyz::WriterBuilder;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes a file atomically with `fill`.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = parent_dir(path);
    check_file_destination(path)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".loisim-").suffix(".tmp");
    // An ordinary file once renamed (tempfile's default is owner-only).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let fail = |e| Error::io("cannot write", path, e);
    let mut tmp = builder.tempfile_in(dir).map_err(fail)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(fail)?;
        w.flush().map_err(fail)?;
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Writes bytes atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Writes `[rows, cols]` int32 values as `.npy`, atomically.
pub fn write_npy_i32(path: &Path, rows: &[Vec<i32>], cols: usize) -> Result<()> {
    write_atomic(path, |w| {
        let mut npy = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[rows.len() as u64, cols as u64])
            .writer(w)
            .begin_nd()?;
        for r in rows {
            npy.extend(r.iter().copied())?;
        }
        npy.finish()
    })
}

/// The outputs of one command (files and directories), staged beside their destinations and
/// moved into place together by [`Staging::commit`] once the whole command has succeeded.
/// Dropped without a commit (the command failed), it removes everything it staged, so a failed
/// run leaves nothing new behind.
#[derive(Debug, Default)]
pub struct Staging {
    entries: Vec<Staged>,
}

/// One staged output.
#[derive(Debug)]
struct Staged {
    /// The hidden temporary directory that holds it, removed on drop.
    tmp: tempfile::TempDir,
    /// Where the command writes it.
    staged: PathBuf,
    /// Where it goes on commit.
    dest: PathBuf,
    is_dir: bool,
}

/// The directory a file named `path` will be created in.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The nearest ancestor of `path` that exists (the staging area must be on its file system).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = parent_dir(path);
    loop {
        if p.is_dir() {
            return p.to_path_buf();
        }
        p = parent_dir(p);
        if p == Path::new(".") {
            return p.to_path_buf();
        }
    }
}

fn stage_dir_in(dir: &Path, dest: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(".loisim-stage-")
        .tempdir_in(dir)
        .map_err(|e| Error::io("cannot write", dest, e))
}

/// A file can be written at `path`: its directory exists and it is not a directory.
fn check_file_destination(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(Error::io(
            "cannot write",
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", dir.display()),
            ),
        ));
    }
    if path.is_dir() {
        return Err(Error::Invalid(format!(
            "cannot write {}: it is a directory",
            path.display()
        )));
    }
    Ok(())
}

impl Staging {
    /// Nothing staged yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Where to write the file that [`commit`](Self::commit) moves to `dest`.
    ///
    /// # Errors
    /// When `dest`'s directory does not exist, `dest` is a directory, or the staging area
    /// cannot be created.
    pub fn file(&mut self, dest: &Path) -> Result<PathBuf> {
        check_file_destination(dest)?;
        let dir = parent_dir(dest);
        let Some(name) = dest.file_name() else {
            return Err(Error::Invalid(format!(
                "cannot write {}: not a file name",
                dest.display()
            )));
        };
        let tmp = stage_dir_in(dir, dest)?;
        let staged = tmp.path().join(name);
        self.entries.push(Staged {
            tmp,
            staged: staged.clone(),
            dest: dest.to_path_buf(),
            is_dir: false,
        });
        Ok(staged)
    }

    /// A directory to fill, whose files [`commit`](Self::commit) moves into `dest` (created
    /// if missing; files of the same names there are replaced, other files are kept).
    ///
    /// # Errors
    /// When `dest` exists and is not a directory, or the staging area cannot be created.
    pub fn dir(&mut self, dest: &Path) -> Result<PathBuf> {
        if dest.exists() && !dest.is_dir() {
            return Err(Error::Invalid(format!(
                "cannot write {}: it exists and is not a directory",
                dest.display()
            )));
        }
        let tmp = stage_dir_in(&existing_ancestor(dest), dest)?;
        // A subdirectory made with the ordinary permissions (the temporary directory itself
        // is owner-only), so that it can be renamed into place as it is.
        let staged = tmp.path().join("out");
        std::fs::create_dir(&staged).map_err(|e| Error::io("cannot write", dest, e))?;
        self.entries.push(Staged {
            tmp,
            staged: staged.clone(),
            dest: dest.to_path_buf(),
            is_dir: true,
        });
        Ok(staged)
    }

    /// The path a staged path will have once committed (paths outside the staging area are
    /// returned as they are).
    #[must_use]
    pub fn final_path(&self, path: &Path) -> PathBuf {
        for e in &self.entries {
            if let Ok(rest) = path.strip_prefix(&e.staged) {
                return if rest.as_os_str().is_empty() {
                    e.dest.clone()
                } else {
                    e.dest.join(rest)
                };
            }
        }
        path.to_path_buf()
    }

    /// Moves every staged output into place, in the order staged.
    ///
    /// # Errors
    /// When a rename fails (the outputs moved before it stay in place).
    pub fn commit(self) -> Result<()> {
        const MOVE: &str = "cannot move the output into";
        for e in self.entries {
            let fail = |err| Error::io(MOVE, &e.dest, err);
            if !e.is_dir {
                if e.staged.exists() {
                    std::fs::rename(&e.staged, &e.dest).map_err(fail)?;
                }
            } else if !e.dest.exists() {
                if let Some(p) = e.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(p).map_err(fail)?;
                }
                std::fs::rename(&e.staged, &e.dest).map_err(fail)?;
            } else {
                let mut names = Vec::new();
                for entry in std::fs::read_dir(&e.staged).map_err(fail)? {
                    names.push(entry.map_err(fail)?.file_name());
                }
                names.sort();
                for name in names {
                    let to = e.dest.join(&name);
                    std::fs::rename(e.staged.join(&name), &to)
                        .map_err(|err| Error::io(MOVE, &to, err))?;
                }
            }
            drop(e.tmp);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn dropped_staging_leaves_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        let mut s = Staging::new();
        let f = s.file(&root.path().join("y.npy")).unwrap();
        std::fs::write(&f, b"x").unwrap();
        let d = s.dir(&root.path().join("a/b/trace")).unwrap();
        std::fs::write(d.join("t.csv"), b"x").unwrap();
        drop(s);
        assert!(
            listing(root.path()).is_empty(),
            "{:?}",
            listing(root.path())
        );
    }

    #[test]
    fn commit_moves_files_and_directories_into_place() {
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join("plots");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("keep.txt"), b"k").unwrap();
        std::fs::write(old.join("a.png"), b"old").unwrap();
        let mut s = Staging::new();
        let f = s.file(&root.path().join("y.npy")).unwrap();
        std::fs::write(&f, b"y").unwrap();
        let t = s.dir(&root.path().join("a/b/trace")).unwrap();
        std::fs::write(t.join("t.csv"), b"t").unwrap();
        let p = s.dir(&old).unwrap();
        std::fs::write(p.join("a.png"), b"new").unwrap();
        assert_eq!(s.final_path(&p.join("a.png")), old.join("a.png"));
        assert_eq!(s.final_path(&f), root.path().join("y.npy"));
        s.commit().unwrap();
        assert_eq!(listing(root.path()), ["a", "plots", "y.npy"]);
        assert_eq!(
            std::fs::read(root.path().join("a/b/trace/t.csv")).unwrap(),
            b"t"
        );
        assert_eq!(listing(&old), ["a.png", "keep.txt"]);
        assert_eq!(std::fs::read(old.join("a.png")).unwrap(), b"new");
        // The committed directory has the permissions of any new directory, not the
        // owner-only ones of the staging area.
        std::fs::create_dir(root.path().join("plain")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions();
        assert_eq!(
            mode(&root.path().join("a/b/trace")),
            mode(&root.path().join("plain"))
        );
    }

    #[test]
    fn refuses_bad_destinations_before_writing() {
        let root = tempfile::tempdir().unwrap();
        let mut s = Staging::new();
        assert!(s.file(&root.path().join("missing/y.npy")).is_err());
        assert!(s.file(root.path()).is_err());
        let file = root.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert!(s.dir(&file).is_err());
        drop(s);
        assert_eq!(listing(root.path()), ["f"]);
    }
}
