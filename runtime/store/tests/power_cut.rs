//! The A/B store on the simulated NOR flash: updates, rollback protection,
//! fallback, and a power cut after every single step of an update.

use mote_store::sim::{SimError, SimFlash};
use mote_store::{ModelStore, StoreError};

type Flash = SimFlash<4, 4096>;
const SLOT: u32 = 8 * 4096;

fn model(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) ^ tag).collect()
}

fn store(flash: Flash) -> ModelStore<Flash> {
    ModelStore::new(flash, 4096, SLOT).unwrap()
}

fn active_bytes(s: &mut ModelStore<Flash>) -> Option<(u32, Vec<u8>)> {
    let info = s.active().unwrap()?;
    let mut buf = vec![0u8; s.capacity() as usize];
    let bytes = s.read_model(&info, &mut buf).unwrap().to_vec();
    Some((info.header.version, bytes))
}

#[test]
fn install_switch_and_rollback_protection() {
    let mut s = store(Flash::new(4096 + 2 * SLOT as usize));
    assert_eq!(s.active().unwrap(), None);
    let mut buf = vec![0u8; 1];
    assert_eq!(s.load(&mut buf, |_| true).err(), Some(StoreError::NoModel));
    let (a, b, c) = (model(1, 5000), model(2, 7001), model(3, 300));
    let i1 = s.install(&a, 1, false, |_| true).unwrap();
    assert_eq!((i1.slot, i1.header.seq), (0, 1));
    assert_eq!(active_bytes(&mut s), Some((1, a.clone())));
    let i2 = s.install(&b, 2, false, |_| true).unwrap();
    assert_eq!((i2.slot, i2.header.seq), (1, 2));
    assert_eq!(active_bytes(&mut s), Some((2, b.clone())));
    // Older versions are refused unless forced; a rejected model changes nothing.
    assert_eq!(
        s.install(&c, 1, false, |_| true),
        Err(StoreError::Rollback {
            installed: 2,
            offered: 1
        })
    );
    assert_eq!(
        s.install(&c, 3, false, |_| false),
        Err(StoreError::Rejected)
    );
    assert_eq!(active_bytes(&mut s), Some((2, b.clone())));
    let i3 = s.install(&c, 1, true, |_| true).unwrap();
    assert_eq!((i3.slot, i3.header.seq, i3.header.version), (0, 3, 1));
    assert_eq!(active_bytes(&mut s), Some((1, c)));
    let too_big = vec![0u8; s.capacity() as usize + 1];
    assert!(matches!(
        s.install(&too_big, 9, false, |_| true),
        Err(StoreError::TooLarge { .. })
    ));
}

#[test]
fn fallback_to_the_other_slot() {
    let mut s = store(Flash::new(4096 + 2 * SLOT as usize));
    let (a, b) = (model(1, 3000), model(2, 4000));
    s.install(&a, 1, false, |_| true).unwrap();
    let i2 = s.install(&b, 2, false, |_| true).unwrap();
    // The caller's check (say, a signature) refuses the newest: the previous one loads.
    let mut buf = vec![0u8; s.capacity() as usize];
    let (info, bytes) = s.load(&mut buf, |m| m != b.as_slice()).unwrap();
    assert_eq!((info.header.version, bytes), (1, a.as_slice()));
    // ... and the refused slot stays revoked across reboots.
    let mut s = store(s.into_inner());
    assert_eq!(active_bytes(&mut s), Some((1, a.clone())));
    // Bit rot in the active slot's data: its CRC fails, the other takes over.
    s.install(&b, 2, false, |_| true).unwrap();
    let mut flash = s.into_inner();
    let at = i2.data_offset as usize + 100;
    flash.memory[at] ^= 0x10;
    let mut s = store(flash);
    let active = s.active().unwrap().unwrap();
    assert_ne!(active.header.version, 2);
    assert_eq!(active_bytes(&mut s).unwrap().1, a);
}

#[test]
fn power_cut_at_every_step_never_loses_the_model() {
    let (old, new) = (model(7, 9000), model(8, 10_500));
    let mut base = store(Flash::new(4096 + 2 * SLOT as usize));
    base.install(&old, 4, false, |_| true).unwrap();
    let base = base.into_inner();
    // Count the steps of an uninterrupted update.
    let mut probe = base.clone();
    probe.steps = 0;
    let mut s = store(probe);
    s.install(&new, 5, false, |_| true).unwrap();
    let total = s.into_inner().steps;
    assert!(total >= 4, "an update takes several flash steps ({total})");
    let mut completed = 0;
    for cut in 0..=total {
        let mut flash = base.clone();
        flash.power_budget = Some(cut);
        let mut s = store(flash);
        let result = s.install(&new, 5, false, |_| true);
        // Reboot on the same flash, power back.
        let mut flash = s.into_inner();
        flash.power_budget = None;
        let mut s = store(flash);
        let (version, bytes) = active_bytes(&mut s).expect("a model must survive any power cut");
        match result {
            Ok(_) => {
                completed += 1;
                assert_eq!((version, bytes), (5, new.clone()));
            }
            Err(StoreError::Flash(SimError::PowerCut)) => {
                assert!(
                    (version, &bytes) == (4, &old) || (version, &bytes) == (5, &new),
                    "cut {cut}: neither the old nor the new model"
                );
            }
            Err(e) => panic!("cut {cut}: unexpected {e:?}"),
        }
        // After the reboot an update goes through.
        let again = s.install(&new, 5, false, |_| true);
        assert!(
            again.is_ok(),
            "cut {cut}: update after reboot failed: {again:?}"
        );
    }
    assert_eq!(completed, 1, "only the run with enough power completes");
}

#[test]
fn layout_is_checked() {
    assert_eq!(
        ModelStore::new(Flash::new(65536), 100, SLOT).err(),
        Some(StoreError::BadLayout)
    );
    assert_eq!(
        ModelStore::new(Flash::new(65536), 0, 1000).err(),
        Some(StoreError::BadLayout)
    );
    assert_eq!(
        ModelStore::new(Flash::new(65536), 0, 65536).err(),
        Some(StoreError::BadLayout)
    );
    // Writing over programmed bits without an erase is refused by the simulator.
    let mut f = Flash::new(4096);
    use embedded_storage::nor_flash::NorFlash;
    f.write(0, &[0, 0, 0, 0]).unwrap();
    assert_eq!(f.write(0, &[1, 0, 0, 0]), Err(SimError::NotErased));
}

/// Every single-bit flip in either slot's header fields (magic, seq, version,
/// length, data CRC, header CRC) invalidates that slot: a flipped `seq` can
/// never make the older slot active, nor a flipped `version` defeat rollback
/// protection. The intact slot stays (or becomes) active.
#[test]
fn header_bit_flips_invalidate_the_slot() {
    let mut s = store(Flash::new(4096 + 2 * SLOT as usize));
    let (a, b) = (model(1, 3000), model(2, 4000));
    s.install(&a, 1, false, |_| true).unwrap();
    s.install(&b, 2, false, |_| true).unwrap();
    let clean = s.into_inner();
    for (slot, survivor) in [(0usize, (2, b.clone())), (1, (1, a.clone()))] {
        let header = 4096 + slot * SLOT as usize;
        for bit in 0..24 * 8 {
            let mut flash = clean.clone();
            flash.memory[header + bit / 8] ^= 1 << (bit % 8);
            let mut s = store(flash);
            let slots = s.slots().unwrap();
            assert!(
                slots.iter().flatten().all(|i| usize::from(i.slot) != slot),
                "slot {slot}: flipped header bit {bit} still decodes: {slots:?}"
            );
            assert_eq!(active_bytes(&mut s), Some(survivor.clone()));
        }
    }
}
