"""Session data: reading logs (canonical and OPeRA), validating them against the data contracts,
and turning accepted sessions into seeded, session-level splits of SFT and RL examples."""
