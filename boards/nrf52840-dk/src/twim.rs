//! A minimal blocking I2C master on the nRF52840's TWIM0 (EasyDMA),
//! register-level, implementing `embedded_hal::i2c::I2c`.
//!
//! Limits: at most 32 bytes per write (adjacent writes are merged) and 255
//! per read; a write followed by a read uses a repeated start, any other
//! boundary between operations a stop and a new start.

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

const TWIM0: usize = 0x4000_3000;
const P0: usize = 0x5000_0000;

const TASKS_STARTRX: usize = 0x000;
const TASKS_STARTTX: usize = 0x008;
const TASKS_STOP: usize = 0x014;
const EVENTS_STOPPED: usize = 0x104;
const EVENTS_ERROR: usize = 0x124;
const SHORTS: usize = 0x200;
const ERRORSRC: usize = 0x4C4;
const ENABLE: usize = 0x500;
const PSEL_SCL: usize = 0x508;
const PSEL_SDA: usize = 0x50C;
const FREQUENCY: usize = 0x524;
const RXD_PTR: usize = 0x534;
const RXD_MAXCNT: usize = 0x538;
const TXD_PTR: usize = 0x544;
const TXD_MAXCNT: usize = 0x548;
const ADDRESS: usize = 0x588;

const SHORT_LASTTX_STARTRX: u32 = 1 << 7;
const SHORT_LASTTX_STOP: u32 = 1 << 9;
const SHORT_LASTRX_STOP: u32 = 1 << 12;
const ENABLE_TWIM: u32 = 6;
const FREQ_400K: u32 = 0x0640_0000;
/// Input buffer connected, pull-up, standard-0 / disconnect-1 drive.
const PIN_CNF_I2C: u32 = (3 << 2) | (6 << 8);

const ERRORSRC_ANACK: u32 = 1 << 1;
const ERRORSRC_DNACK: u32 = 1 << 2;

fn write(reg: usize, value: u32) {
    // SAFETY: `reg` is a TWIM0 register offset from the nRF52840 product
    // specification; the driver owns TWIM0 (see `Twim::new`).
    unsafe { core::ptr::write_volatile((TWIM0 + reg) as *mut u32, value) }
}

fn read(reg: usize) -> u32 {
    // SAFETY: as in `write`.
    unsafe { core::ptr::read_volatile((TWIM0 + reg) as *const u32) }
}

/// TWIM0 as an I2C master at 400 kHz.
#[derive(Debug)]
pub struct Twim {
    tx: [u8; 32],
}

impl Twim {
    /// Takes TWIM0 with SDA and SCL on port-0 pins `sda` and `scl`.
    ///
    /// # Safety
    /// Nothing else may use TWIM0 or those two pins.
    pub unsafe fn new(sda: u8, scl: u8) -> Self {
        for pin in [sda, scl] {
            let cnf = P0 + 0x700 + 4 * usize::from(pin);
            // SAFETY: PIN_CNF register of a pin the caller gave us.
            unsafe { core::ptr::write_volatile(cnf as *mut u32, PIN_CNF_I2C) };
        }
        write(PSEL_SCL, u32::from(scl));
        write(PSEL_SDA, u32::from(sda));
        write(FREQUENCY, FREQ_400K);
        write(ENABLE, ENABLE_TWIM);
        Twim { tx: [0; 32] }
    }

    /// Runs one transfer: `tx` bytes written, then (if `rx` is not empty) a
    /// repeated start and `rx` bytes read, then a stop.
    fn transfer(&mut self, address: u8, tx_len: usize, rx: &mut [u8]) -> Result<(), ErrorKind> {
        if rx.len() > 255 {
            return Err(ErrorKind::Other);
        }
        write(ADDRESS, u32::from(address));
        write(EVENTS_STOPPED, 0);
        write(EVENTS_ERROR, 0);
        write(ERRORSRC, read(ERRORSRC));
        write(TXD_PTR, self.tx.as_ptr() as u32);
        write(TXD_MAXCNT, tx_len as u32);
        write(RXD_PTR, rx.as_mut_ptr() as u32);
        write(RXD_MAXCNT, rx.len() as u32);
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        match (tx_len > 0, !rx.is_empty()) {
            (true, true) => {
                write(SHORTS, SHORT_LASTTX_STARTRX | SHORT_LASTRX_STOP);
                write(TASKS_STARTTX, 1);
            }
            (true, false) => {
                write(SHORTS, SHORT_LASTTX_STOP);
                write(TASKS_STARTTX, 1);
            }
            (false, true) => {
                write(SHORTS, SHORT_LASTRX_STOP);
                write(TASKS_STARTRX, 1);
            }
            (false, false) => return Ok(()),
        }
        loop {
            if read(EVENTS_ERROR) != 0 {
                write(EVENTS_ERROR, 0);
                write(TASKS_STOP, 1);
                while read(EVENTS_STOPPED) == 0 {}
                let src = read(ERRORSRC);
                write(ERRORSRC, src);
                return Err(if src & ERRORSRC_ANACK != 0 {
                    ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
                } else if src & ERRORSRC_DNACK != 0 {
                    ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)
                } else {
                    ErrorKind::Bus
                });
            }
            if read(EVENTS_STOPPED) != 0 {
                break;
            }
        }
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl ErrorType for Twim {
    type Error = ErrorKind;
}

impl I2c for Twim {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let mut tx_len = 0usize;
        for op in operations.iter_mut() {
            match op {
                Operation::Write(bytes) => {
                    let end = tx_len + bytes.len();
                    let Some(dst) = self.tx.get_mut(tx_len..end) else {
                        return Err(ErrorKind::Other);
                    };
                    dst.copy_from_slice(bytes);
                    tx_len = end;
                }
                Operation::Read(buf) => {
                    self.transfer(address, tx_len, buf)?;
                    tx_len = 0;
                }
            }
        }
        if tx_len > 0 {
            self.transfer(address, tx_len, &mut [])?;
        }
        Ok(())
    }
}
