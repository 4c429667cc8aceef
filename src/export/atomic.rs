//! Files that are replaced whole or not at all: written beside the target, synced, then renamed.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written in place of `target`; the target changes only on [`AtomicFile::commit`].
/// Dropped without a commit (an error, a panic), the temporary file is removed and the target is untouched.
pub struct AtomicFile {
    target: PathBuf,
    writer: BufWriter<NamedTempFile>,
    private: bool,
    /// Held until the file is in place, so two runs (overlapping cron jobs) never write one target.
    _lock: OutputLock,
}

/// `.NAME.lock` beside an output, locked while the output is written and removed with the run, so
/// a run leaves nothing behind but its outputs.
struct OutputLock {
    path: PathBuf,
    _file: File,
}

impl OutputLock {
    fn acquire(path: &Path, target: &Path) -> io::Result<OutputLock> {
        loop {
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!(
                            "another roster run is writing {} right now",
                            target.display()
                        ),
                    ))
                }
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
            // The lock is ours only while the path still names the file we locked: a run that
            // just finished removes its lock file, and we may have opened it before that.
            if names_the_same_file(path, &file) {
                return Ok(OutputLock {
                    path: path.to_path_buf(),
                    _file: file,
                });
            }
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held: a run waiting on this file sees it gone and tries again.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn names_the_same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn names_the_same_file(_path: &Path, _file: &File) -> bool {
    true
}

impl AtomicFile {
    /// `private`: the file holds secrets and stays readable by its owner only (mode 0600 from the
    /// moment it is created, never wider).
    pub fn create(target: &Path, private: bool) -> io::Result<AtomicFile> {
        // A link is written through to the file it points at, never replaced by a file of its own.
        let resolved;
        let target = match fs::symlink_metadata(target) {
            Ok(meta) if meta.file_type().is_symlink() => {
                resolved = fs::canonicalize(target).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("{} is a link to nowhere ({e})", target.display()),
                    )
                })?;
                resolved.as_path()
            }
            _ => target,
        };
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "the output path names no file")
        })?;
        let lock_path = dir.join(format!(".{}.lock", name.to_string_lossy()));
        let lock = OutputLock::acquire(&lock_path, target)?;
        // tempfile creates the file with mode 0600 on Unix.
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            writer: BufWriter::with_capacity(256 * 1024, temp),
            private,
            _lock: lock,
        })
    }

    pub fn writer(&mut self) -> &mut BufWriter<NamedTempFile> {
        &mut self.writer
    }

    /// Throw away what was written so far and start again (a re-walk).
    pub fn restart(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        let file = self.writer.get_mut().as_file_mut();
        file.set_len(0)?;
        io::Seek::seek(file, io::SeekFrom::Start(0))?;
        Ok(())
    }

    /// Flush, fsync, set the final mode, rename over the target and fsync the directory.
    pub fn commit(self) -> io::Result<()> {
        let temp = self.writer.into_inner().map_err(|e| e.into_error())?;
        temp.as_file().sync_all()?;
        if !self.private {
            set_mode(temp.as_file(), 0o644)?;
        }
        temp.persist(&self.target).map_err(|e| e.error)?;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Makes the rename itself durable; not every filesystem allows opening a directory.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Write a whole file atomically with `fill`.
pub fn write_atomically(
    target: &Path,
    private: bool,
    fill: impl FnOnce(&mut BufWriter<NamedTempFile>) -> io::Result<()>,
) -> io::Result<()> {
    let mut file = AtomicFile::create(target, private)?;
    fill(file.writer())?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_link_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        let link = dir.path().join("roster.csv");
        fs::write(&real, "yesterday\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, false, |out| out.write_all(b"today\n")).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "today\n");

        let dangling = dir.path().join("dangling.csv");
        std::os::unix::fs::symlink(dir.path().join("gone/x.csv"), &dangling).unwrap();
        let err = write_atomically(&dangling, false, |out| out.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("link to nowhere"), "{err}");
    }

    #[test]
    fn one_writer_at_a_time_and_no_lock_file_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("roster.csv");
        let first = AtomicFile::create(&target, false).unwrap();
        let err = AtomicFile::create(&target, false).err().expect("refused");
        assert!(err.to_string().contains("another roster run"), "{err}");
        first.commit().unwrap();
        let second = AtomicFile::create(&target, false).expect("free again");
        drop(second);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["roster.csv"], "no lock or temporary file is left");
    }

    #[test]
    fn the_target_changes_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("roster.csv");
        fs::write(&target, "yesterday\n").unwrap();
        {
            let mut file = AtomicFile::create(&target, false).unwrap();
            file.writer().write_all(b"half of to").unwrap();
            // dropped without commit: a failed export
        }
        assert_eq!(fs::read_to_string(&target).unwrap(), "yesterday\n");
        let temporary = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(temporary, 0, "no temporary file left behind");
        write_atomically(&target, false, |w| w.write_all(b"today\n")).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "today\n");
    }

    #[test]
    fn two_writers_of_one_target_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("roster.csv");
        let first = AtomicFile::create(&target, false).unwrap();
        let err = AtomicFile::create(&target, false).err().unwrap();
        assert!(err.to_string().contains("another roster run"), "{err}");
        first.commit().unwrap();
        AtomicFile::create(&target, false).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_and_others_0644() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("with-passwords.csv");
        write_atomically(&secret, true, |w| w.write_all(b"x")).unwrap();
        assert_eq!(
            fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let public = dir.path().join("plain.csv");
        write_atomically(&public, false, |w| w.write_all(b"x")).unwrap();
        assert_eq!(
            fs::metadata(&public).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
}
