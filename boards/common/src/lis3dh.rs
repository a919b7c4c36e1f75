//! LIS3DH 3-axis accelerometer over any `embedded-hal` 1.0 I2C bus.

use embedded_hal::i2c::I2c;

/// I2C address with SA0 low (0x19 with SA0 high).
pub const ADDRESS_SA0_LOW: u8 = 0x18;
/// I2C address with SA0 high.
pub const ADDRESS_SA0_HIGH: u8 = 0x19;

const WHO_AM_I: u8 = 0x0F;
const WHO_AM_I_VALUE: u8 = 0x33;
const CTRL_REG1: u8 = 0x20;
const CTRL_REG4: u8 = 0x23;
const OUT_X_L: u8 = 0x28;
/// Register-address flag for auto-increment over a multi-byte read.
const AUTO_INCREMENT: u8 = 0x80;

/// Output data rate (CTRL_REG1 ODR bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DataRate {
    /// 10 Hz.
    Hz10 = 0x2,
    /// 25 Hz.
    Hz25 = 0x3,
    /// 50 Hz.
    Hz50 = 0x4,
    /// 100 Hz.
    Hz100 = 0x5,
    /// 400 Hz.
    Hz400 = 0x7,
}

/// What went wrong talking to the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The bus failed.
    Bus(E),
    /// WHO_AM_I did not read 0x33: not a LIS3DH.
    WrongDevice(u8),
}

/// A LIS3DH in high-resolution mode (12 bit), ±2 g, all axes on.
#[derive(Debug)]
pub struct Lis3dh<I> {
    i2c: I,
    address: u8,
}

impl<I: I2c> Lis3dh<I> {
    /// Checks WHO_AM_I and configures the sensor at `rate`.
    pub fn new(i2c: I, address: u8, rate: DataRate) -> Result<Self, Error<I::Error>> {
        let mut s = Lis3dh { i2c, address };
        let mut id = [0u8];
        s.i2c
            .write_read(address, &[WHO_AM_I], &mut id)
            .map_err(Error::Bus)?;
        if id[0] != WHO_AM_I_VALUE {
            return Err(Error::WrongDevice(id[0]));
        }
        // ODR, normal power, X/Y/Z enabled.
        s.write(CTRL_REG1, ((rate as u8) << 4) | 0x07)?;
        // Block data update, ±2 g, high resolution.
        s.write(CTRL_REG4, 0x88)?;
        Ok(s)
    }

    fn write(&mut self, reg: u8, value: u8) -> Result<(), Error<I::Error>> {
        self.i2c
            .write(self.address, &[reg, value])
            .map_err(Error::Bus)
    }

    /// One sample: X, Y, Z in milli-g (±2 g range, 12-bit, 1 mg/digit).
    pub fn read_mg(&mut self) -> Result<[i16; 3], Error<I::Error>> {
        let mut raw = [0u8; 6];
        self.i2c
            .write_read(self.address, &[OUT_X_L | AUTO_INCREMENT], &mut raw)
            .map_err(Error::Bus)?;
        // Left-justified 12-bit two's complement: shift out the 4 unused bits.
        let axis = |lo: u8, hi: u8| i16::from_le_bytes([lo, hi]) >> 4;
        Ok([
            axis(raw[0], raw[1]),
            axis(raw[2], raw[3]),
            axis(raw[4], raw[5]),
        ])
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorType, Operation};

    /// A LIS3DH register file behind a fake bus.
    struct Fake {
        regs: [u8; 0x40],
        pointer: usize,
    }

    impl ErrorType for Fake {
        type Error = core::convert::Infallible;
    }

    impl I2c for Fake {
        fn transaction(
            &mut self,
            address: u8,
            ops: &mut [Operation<'_>],
        ) -> Result<(), Self::Error> {
            assert_eq!(address, ADDRESS_SA0_HIGH);
            for op in ops {
                match op {
                    Operation::Write(bytes) => {
                        self.pointer = usize::from(bytes[0] & 0x7F);
                        for (i, &b) in bytes[1..].iter().enumerate() {
                            self.regs[self.pointer + i] = b;
                        }
                    }
                    Operation::Read(buf) => {
                        for (i, b) in buf.iter_mut().enumerate() {
                            *b = self.regs[self.pointer + i];
                        }
                    }
                }
            }
            Ok(())
        }
    }

    #[test]
    fn configures_and_reads_milli_g() {
        let mut regs = [0u8; 0x40];
        regs[usize::from(WHO_AM_I)] = WHO_AM_I_VALUE;
        // X = +1000 mg, Y = -250 mg, Z = 0, left-justified by 4 bits.
        let put = |v: i16| ((v << 4) as u16).to_le_bytes();
        regs[0x28..0x2A].copy_from_slice(&put(1000));
        regs[0x2A..0x2C].copy_from_slice(&put(-250));
        let fake = Fake { regs, pointer: 0 };
        let mut s = Lis3dh::new(fake, ADDRESS_SA0_HIGH, DataRate::Hz100).unwrap();
        assert_eq!(s.read_mg().unwrap(), [1000, -250, 0]);
        let fake = s.release();
        assert_eq!(fake.regs[usize::from(CTRL_REG1)], 0x57);
        assert_eq!(fake.regs[usize::from(CTRL_REG4)], 0x88);
    }

    #[test]
    fn rejects_another_device() {
        let fake = Fake {
            regs: [0u8; 0x40],
            pointer: 0,
        };
        assert!(matches!(
            Lis3dh::new(fake, ADDRESS_SA0_HIGH, DataRate::Hz10),
            Err(Error::WrongDevice(0))
        ));
    }
}
