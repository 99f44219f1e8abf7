//! Writing output files atomically: a temporary file in the destination's directory, renamed
//! over the destination only once it is complete. A failed run leaves no partial file.

use anyhow::{Context, Result};
use npyz::WriterBuilder;
use std::io::Write;
use std::path::Path;

/// Writes a file atomically with `fill`.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        anyhow::bail!("cannot write {}: it is a directory", path.display());
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".loisim-").suffix(".tmp");
    // An ordinary file once renamed (tempfile's default is owner-only).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot write {}", path.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).with_context(|| format!("cannot write {}", path.display()))?;
        w.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes bytes atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| Ok(w.write_all(bytes)?))
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
        npy.finish()?;
        Ok(())
    })
}
