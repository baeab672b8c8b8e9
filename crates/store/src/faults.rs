//! A file layer under SQLite that fails on demand: disk full and failed fsync, in every test
//! run, without root or a loop device (the role vector's `disk_v2` gives its `Filesystem`).
//!
//! SQLite does all its file I/O through a VFS. `FaultyFiles::register` adds one (through the
//! `sqlite-plugin` crate, which keeps the FFI) that keeps the database in ordinary files —
//! positional reads and writes, `fsync` for sync — and fails, while its `Faults` say so:
//! - every write with `SQLITE_FULL`, as `write(2)` failing with ENOSPC makes SQLite's own
//!   unix VFS answer;
//! - every sync with `SQLITE_IOERR_FSYNC`, as a failed `fsync(2)` does.
//!
//! `SqliteStore::open_with_vfs` opens a store through it. SQLite's unix VFS cannot be wrapped
//! from safe Rust, so this one is a whole (small) VFS: file locks and the WAL index's shared
//! memory are kept in this process, which is enough since one store owns its directory (the
//! directory's lock keeps other processes out). Reads never fail: a full disk still reads.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use sqlite_plugin::flags::{AccessFlags, CreateMode, LockLevel, OpenKind, OpenMode, OpenOpts, ShmLockMode};
use sqlite_plugin::vars;
use sqlite_plugin::vfs::{register_static, RegisterOpts, Vfs, VfsHandle, VfsResult};

/// What the files do now; shared by a test and the VFS it registered.
#[derive(Debug, Default)]
pub struct Faults {
    full: AtomicBool,
    fsync_fails: AtomicBool,
    /// Non-zero: syncs to let succeed before every one fails (a crash at a chosen point).
    syncs_before_failing: AtomicU64,
}

impl Faults {
    /// Every write fails as on a full disk (`true`), or succeeds again.
    pub fn set_disk_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }

    /// Every fsync fails (`true`), or succeeds again.
    pub fn set_fsync_fails(&self, fails: bool) {
        self.syncs_before_failing.store(0, Ordering::SeqCst);
        self.fsync_fails.store(fails, Ordering::SeqCst);
    }

    /// The next `n` fsyncs succeed (`n` > 0), then every one fails.
    pub fn set_fsync_fails_after(&self, n: u64) {
        self.fsync_fails.store(false, Ordering::SeqCst);
        self.syncs_before_failing.store(n, Ordering::SeqCst);
    }

    /// Whether this sync fails, counting it against `set_fsync_fails_after`.
    fn sync_fails(&self) -> bool {
        let counted = self.syncs_before_failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if counted == Ok(1) {
            self.fsync_fails.store(true, Ordering::SeqCst);
            return false;
        }
        self.fsync_fails.load(Ordering::SeqCst)
    }
}

/// A registered fault-injecting VFS: its name (for `SqliteStore::open_with_vfs`) and switches.
#[derive(Clone)]
pub struct FaultyFiles {
    pub name: String,
    pub faults: Arc<Faults>,
}

impl FaultyFiles {
    /// Register a new VFS under a name of its own, so that tests running at once never share
    /// switches. (SQLite keeps a registered VFS for the life of the process.)
    pub fn register() -> Result<FaultyFiles, String> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let name = format!("redrive-faulty-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let faults = Arc::new(Faults::default());
        let vfs = FaultyVfs { faults: faults.clone(), databases: Default::default(), next_handle: AtomicU64::new(1) };
        let c_name = CString::new(name.clone()).map_err(|e| e.to_string())?;
        register_static(c_name, vfs, RegisterOpts { make_default: false })
            .map_err(|code| format!("registering the VFS {name} failed: SQLite error {code}"))?;
        Ok(FaultyFiles { name, faults })
    }
}

struct FaultyVfs {
    faults: Arc<Faults>,
    /// Lock state and WAL index of each database file opened, by path.
    databases: parking_lot::Mutex<HashMap<PathBuf, Arc<Database>>>,
    next_handle: AtomicU64,
}

/// What the handles of one database file share.
#[derive(Default)]
struct Database {
    locks: parking_lot::Mutex<FileLocks>,
    shm: parking_lot::Mutex<Shm>,
}

/// SQLite's file locks (lockingv3.html) among this process's handles.
#[derive(Default)]
struct FileLocks {
    /// Handles holding SHARED or more.
    readers: usize,
    reserved: Option<u64>,
    pending: Option<u64>,
    exclusive: Option<u64>,
}

/// Slots of the WAL index's locks (WRITE, CHECKPOINT, RECOVER, READ0..4).
const SHM_SLOTS: usize = 8;

/// The WAL index: regions of shared memory and their locks.
#[derive(Default)]
struct Shm {
    /// Each region as u64s, for the alignment SQLite expects; a region never moves once made.
    regions: Vec<Vec<u64>>,
    /// Handles that mapped it.
    mapped: usize,
    shared: [usize; SHM_SLOTS],
    exclusive: [Option<u64>; SHM_SLOTS],
}

pub struct Handle {
    id: u64,
    file: File,
    /// Removed at close (SQLite's temporary files).
    delete_on_close: Option<PathBuf>,
    readonly: bool,
    /// A main database file's shared state.
    db: Option<Arc<Database>>,
    level: LockLevel,
    shm_shared: [bool; SHM_SLOTS],
    shm_exclusive: [bool; SHM_SLOTS],
    shm_mapped: bool,
}

impl VfsHandle for Handle {
    fn readonly(&self) -> bool {
        self.readonly
    }

    fn in_memory(&self) -> bool {
        false
    }
}

fn io(code: i32) -> impl Fn(std::io::Error) -> i32 {
    move |_| code
}

impl FaultyVfs {
    fn database(&self, path: &Path) -> Arc<Database> {
        self.databases.lock().entry(path.to_path_buf()).or_default().clone()
    }

    fn temporary_path(&self) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("redrive-vfs-{}-{n}", std::process::id()))
    }

    /// Release every lock `handle` holds on its database's file and WAL index.
    fn release(handle: &mut Handle) {
        let Some(db) = handle.db.clone() else { return };
        {
            let mut locks = db.locks.lock();
            Self::drop_file_lock(&mut locks, handle, LockLevel::Unlocked);
        }
        let mut shm = db.shm.lock();
        for slot in 0..SHM_SLOTS {
            if std::mem::take(&mut handle.shm_shared[slot]) {
                shm.shared[slot] -= 1;
            }
            if std::mem::take(&mut handle.shm_exclusive[slot]) {
                shm.exclusive[slot] = None;
            }
        }
        if std::mem::take(&mut handle.shm_mapped) {
            shm.mapped -= 1;
            if shm.mapped == 0 {
                // Nobody maps it: the next connection starts from a zeroed index and SQLite
                // rebuilds it from the WAL, as from a fresh -shm file.
                shm.regions.clear();
            }
        }
    }

    fn drop_file_lock(locks: &mut FileLocks, handle: &mut Handle, to: LockLevel) {
        let me = Some(handle.id);
        if locks.exclusive == me {
            locks.exclusive = None;
        }
        if locks.pending == me {
            locks.pending = None;
        }
        if locks.reserved == me {
            locks.reserved = None;
        }
        if to == LockLevel::Unlocked && handle.level >= LockLevel::Shared {
            locks.readers -= 1;
        }
        handle.level = to.min(handle.level);
    }
}

impl Vfs for FaultyVfs {
    type Handle = Handle;

    fn canonical_path<'a>(&self, path: std::borrow::Cow<'a, str>) -> VfsResult<std::borrow::Cow<'a, str>> {
        let absolute = std::path::absolute(path.as_ref()).map_err(io(vars::SQLITE_CANTOPEN))?;
        Ok(absolute.to_string_lossy().into_owned().into())
    }

    fn open(&self, path: Option<&str>, opts: OpenOpts) -> VfsResult<Handle> {
        let mode = opts.mode();
        let readonly = mode.is_readonly();
        let (path, temporary) = match path {
            Some(p) => (PathBuf::from(p), opts.delete_on_close()),
            None => (self.temporary_path(), true),
        };
        let create = matches!(mode, OpenMode::ReadWrite { create: CreateMode::Create | CreateMode::MustCreate });
        let file = OpenOptions::new()
            .read(true)
            .write(!readonly)
            .create(create && !readonly)
            .open(&path)
            .map_err(io(vars::SQLITE_CANTOPEN))?;
        let db = (opts.kind() == OpenKind::MainDb).then(|| self.database(&path));
        Ok(Handle {
            id: self.next_handle.fetch_add(1, Ordering::Relaxed),
            file,
            delete_on_close: temporary.then_some(path),
            readonly,
            db,
            level: LockLevel::Unlocked,
            shm_shared: [false; SHM_SLOTS],
            shm_exclusive: [false; SHM_SLOTS],
            shm_mapped: false,
        })
    }

    fn delete(&self, path: &str) -> VfsResult<()> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(vars::SQLITE_IOERR_DELETE_NOENT),
            Err(_) => Err(vars::SQLITE_IOERR_DELETE),
        }
    }

    fn access(&self, path: &str, _flags: AccessFlags) -> VfsResult<bool> {
        Ok(Path::new(path).exists())
    }

    fn file_size(&self, handle: &mut Handle) -> VfsResult<usize> {
        let len = handle.file.metadata().map_err(io(vars::SQLITE_IOERR_FSTAT))?.len();
        usize::try_from(len).map_err(|_| vars::SQLITE_IOERR_FSTAT)
    }

    fn truncate(&self, handle: &mut Handle, size: usize) -> VfsResult<()> {
        let current = self.file_size(handle)?;
        if size > current && self.faults.full.load(Ordering::SeqCst) {
            return Err(vars::SQLITE_FULL);
        }
        handle.file.set_len(size as u64).map_err(io(vars::SQLITE_IOERR_TRUNCATE))
    }

    fn write(&self, handle: &mut Handle, offset: usize, data: &[u8]) -> VfsResult<usize> {
        if self.faults.full.load(Ordering::SeqCst) {
            return Err(vars::SQLITE_FULL);
        }
        handle.file.write_all_at(data, offset as u64).map_err(io(vars::SQLITE_IOERR_WRITE))?;
        Ok(data.len())
    }

    fn read(&self, handle: &mut Handle, offset: usize, data: &mut [u8]) -> VfsResult<usize> {
        let mut done = 0;
        while done < data.len() {
            match handle.file.read_at(&mut data[done..], (offset + done) as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(vars::SQLITE_IOERR_READ),
            }
        }
        Ok(done)
    }

    fn lock(&self, handle: &mut Handle, level: LockLevel) -> VfsResult<()> {
        let Some(db) = handle.db.clone() else { return Ok(()) };
        if level <= handle.level {
            return Ok(());
        }
        let me = Some(handle.id);
        let mut locks = db.locks.lock();
        let other = |holder: Option<u64>| holder.is_some() && holder != me;
        match level {
            LockLevel::Unlocked => {}
            LockLevel::Shared => {
                if other(locks.pending) || other(locks.exclusive) {
                    return Err(vars::SQLITE_BUSY);
                }
                locks.readers += 1;
            }
            LockLevel::Reserved => {
                if other(locks.reserved) || other(locks.exclusive) {
                    return Err(vars::SQLITE_BUSY);
                }
                locks.reserved = me;
            }
            LockLevel::Pending | LockLevel::Exclusive => {
                if other(locks.pending) || other(locks.exclusive) {
                    return Err(vars::SQLITE_BUSY);
                }
                // PENDING keeps new readers out while the others finish.
                locks.pending = me;
                if level == LockLevel::Exclusive {
                    if locks.readers > 1 {
                        handle.level = LockLevel::Pending;
                        return Err(vars::SQLITE_BUSY);
                    }
                    locks.exclusive = me;
                }
            }
        }
        handle.level = level;
        Ok(())
    }

    fn unlock(&self, handle: &mut Handle, level: LockLevel) -> VfsResult<()> {
        let Some(db) = handle.db.clone() else { return Ok(()) };
        if level >= handle.level {
            return Ok(());
        }
        let mut locks = db.locks.lock();
        FaultyVfs::drop_file_lock(&mut locks, handle, level);
        Ok(())
    }

    fn check_reserved_lock(&self, handle: &mut Handle) -> VfsResult<bool> {
        let Some(db) = &handle.db else { return Ok(false) };
        let locks = db.locks.lock();
        Ok(locks.reserved.is_some() || locks.pending.is_some() || locks.exclusive.is_some())
    }

    fn sync(&self, handle: &mut Handle) -> VfsResult<()> {
        if self.faults.sync_fails() {
            return Err(vars::SQLITE_IOERR_FSYNC);
        }
        handle.file.sync_all().map_err(io(vars::SQLITE_IOERR_FSYNC))
    }

    fn close(&self, mut handle: Handle) -> VfsResult<()> {
        FaultyVfs::release(&mut handle);
        if let Some(path) = handle.delete_on_close.take() {
            drop(handle);
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }

    fn device_characteristics(&self, _handle: &mut Handle) -> VfsResult<i32> {
        // What SQLite's unix VFS reports by default.
        Ok(vars::SQLITE_IOCAP_POWERSAFE_OVERWRITE)
    }

    fn shm_map(&self, handle: &mut Handle, region: usize, size: usize, extend: bool) -> VfsResult<Option<NonNull<u8>>> {
        let db = handle.db.clone().ok_or(vars::SQLITE_IOERR_SHMMAP)?;
        let mut shm = db.shm.lock();
        if !handle.shm_mapped {
            handle.shm_mapped = true;
            shm.mapped += 1;
        }
        while shm.regions.len() <= region {
            if !extend {
                return Ok(None);
            }
            shm.regions.push(vec![0; size.div_ceil(8)]);
        }
        Ok(NonNull::new(shm.regions[region].as_mut_ptr().cast::<u8>()))
    }

    fn shm_lock(&self, handle: &mut Handle, offset: u32, count: u32, mode: ShmLockMode) -> VfsResult<()> {
        let db = handle.db.clone().ok_or(vars::SQLITE_IOERR_SHMLOCK)?;
        let slots = offset as usize..(offset + count) as usize;
        if slots.end > SHM_SLOTS {
            return Err(vars::SQLITE_IOERR_SHMLOCK);
        }
        let me = Some(handle.id);
        let mut shm = db.shm.lock();
        match mode {
            ShmLockMode::LockShared => {
                if slots.clone().any(|s| shm.exclusive[s].is_some() && shm.exclusive[s] != me) {
                    return Err(vars::SQLITE_BUSY);
                }
                for s in slots {
                    if !handle.shm_shared[s] {
                        handle.shm_shared[s] = true;
                        shm.shared[s] += 1;
                    }
                }
            }
            ShmLockMode::LockExclusive => {
                let taken = |s: usize| {
                    (shm.exclusive[s].is_some() && shm.exclusive[s] != me)
                        || shm.shared[s] > usize::from(handle.shm_shared[s])
                };
                if slots.clone().any(taken) {
                    return Err(vars::SQLITE_BUSY);
                }
                for s in slots {
                    shm.exclusive[s] = me;
                    handle.shm_exclusive[s] = true;
                }
            }
            ShmLockMode::UnlockShared => {
                for s in slots {
                    if std::mem::take(&mut handle.shm_shared[s]) {
                        shm.shared[s] -= 1;
                    }
                }
            }
            ShmLockMode::UnlockExclusive => {
                for s in slots {
                    if std::mem::take(&mut handle.shm_exclusive[s]) {
                        shm.exclusive[s] = None;
                    }
                }
            }
        }
        Ok(())
    }

    fn shm_barrier(&self, _handle: &mut Handle) {
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    fn shm_unmap(&self, handle: &mut Handle, _delete: bool) -> VfsResult<()> {
        let Some(db) = handle.db.clone() else { return Ok(()) };
        let mut shm = db.shm.lock();
        if std::mem::take(&mut handle.shm_mapped) {
            shm.mapped -= 1;
            if shm.mapped == 0 {
                shm.regions.clear();
            }
        }
        Ok(())
    }
}
