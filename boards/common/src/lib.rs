//! Board support shared by the firmware and the host simulator. It is
//! empty for now: the board profiles, sensor drivers and pipelines arrive
//! with the firmware work (issues 4 and 7).
#![no_std]
