"""Recipient systems (the teams and systems the register says receive monitoring data) and the
tasks the portal gives them when a person's rights reach where their data went (GDPR Art. 17(2),
19; CPRA §1798.105(c))."""
