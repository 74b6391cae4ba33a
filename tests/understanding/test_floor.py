"""The understanding floor: the labelled corpus (corpus/dev.yaml, corpus/test.yaml)
through the path a call takes (``understand_with_rules``: intent rules + resolver),
as ``benchmarks/understanding_bench.py`` runs it. Fails when accuracy falls below
the floor set from the measured figures (benchmarks/README.md), or when a decisive
action (transfer, callback, operator, goodbye) is taken where the receptionist
would have re-asked or asked "which one?"."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Per split and language. Measured 2026-12-01 (rules engine): dev 100 % / 100 %,
#: test 99.2 % pt-BR / 98.9 % en-US (benchmarks/README.md); the floor leaves room
#: for a few sentences per language, not for a regression of a kind of sentence.
FLOOR = 0.95
#: Wrong decisive actions where a question or a re-ask was right, at most.
MAX_WRONG_WHERE_QUESTION = {"dev": 0, "test": 0}

#: Blind batches (tests/understanding/blind/<round>, written by writers who never saw
#: the rules): per round and half, the least accuracy per language and the most
#: wrong actions (rate), a little under the figures measured after that round's
#: tuning (benchmarks/README.md). The test halves were never read while tuning.
# Round 21 (2026-12-07): a full name nobody here has whose first name people here have
# is a question offering them, no longer the reception; r11 dev, r22 test and r23 test
# lost a point each where their writers labelled the reception.
BLIND_FLOORS: dict[tuple[str, str], tuple[dict[str, float], float]] = {
    ("r1", "dev"): ({"pt-BR": 0.98, "en-US": 0.98}, 0.01),
    ("r1", "test"): ({"pt-BR": 0.94, "en-US": 0.94}, 0.02),
    ("r2", "dev"): ({"pt-BR": 0.94, "en-US": 0.94}, 0.02),
    ("r2", "test"): ({"pt-BR": 0.82, "en-US": 0.82}, 0.05),
    # r3 was held out in round 3 and is tuned on (dev half) since round 4; round 4
    # asks where the evidence is thin: fewer wrong actions, fewer transfers
    ("r3", "dev"): ({"pt-BR": 0.91, "en-US": 0.88}, 0.035),  # round 9: one sale of one's own car
    ("r3", "test"): ({"pt-BR": 0.82, "en-US": 0.74}, 0.07),
    # round 12: a department of an inferred kind shares its kind's topic words with
    # the declared ones (the caller is asked which): r4 dev en-US 91.8 -> 86.3 % (four
    # transfers became questions), its wrong actions 4 -> 3
    ("r4", "dev"): ({"pt-BR": 0.89, "en-US": 0.85}, 0.04),
    ("r4", "test"): ({"pt-BR": 0.77, "en-US": 0.77}, 0.10),
    # rounds 5-7 (2026-12-06): organisations with their own vocabulary (a vet
    # hospital, an agricultural cooperative, a bus company, property management,
    # a school, a museum); the topic model and the insistent-transfer rules came
    # after r5 and r6 were scored, r7 was scored before its dev half was read
    ("r5", "dev"): ({"pt-BR": 0.74, "en-US": 0.80}, 0.04),
    ("r5", "test"): ({"pt-BR": 0.78, "en-US": 0.66}, 0.07),
    ("r6", "dev"): ({"pt-BR": 0.74, "en-US": 0.71}, 0.07),
    ("r6", "test"): ({"pt-BR": 0.68, "en-US": 0.60}, 0.12),
    ("r7", "dev"): ({"pt-BR": 0.72, "en-US": 0.75}, 0.07),
    ("r7", "test"): ({"pt-BR": 0.62, "en-US": 0.60}, 0.10),
    # round 8 (2026-12-07): a funeral home (pt-BR) and a public library (en-US),
    # scored at import before anything was changed: dev 65.5 / 60.0 %, 9.8 % wrong
    # actions; test 73.5 / 56.8 %, 10.1 %; after round 8's tuning: dev 73.8 / 70.0 %,
    # 5.4 %; test 75.5 / 58.0 %, 8.9 % (rounds 1-7 raised to their figures after it)
    ("r8", "dev"): ({"pt-BR": 0.71, "en-US": 0.68}, 0.07),
    ("r8", "test"): ({"pt-BR": 0.73, "en-US": 0.56}, 0.10),
    # round 9 (2026-12-07): a furniture manufacturer in each language, scored at
    # import before anything was changed: dev 75.3 / 67.8 %, 6.7 % wrong actions;
    # test 70.2 / 70.3 %, 9.7 %; after round 9's tuning: dev 76.3 / 69.0 %, 5.6 %;
    # test unchanged
    ("r9", "dev"): ({"pt-BR": 0.74, "en-US": 0.67}, 0.07),
    ("r9", "test"): ({"pt-BR": 0.68, "en-US": 0.68}, 0.11),
    # round 10 (2026-12-07): a hotel and conference resort (pt-BR) and a regional
    # freight carrier (en-US), scored at import before anything was changed: dev
    # 65.2 / 67.7 %, 11.5 % wrong actions; test 64.7 / 64.9 %, 10.7 %; after round
    # 10: dev 70.7 / 70.7 %, 8.4 %; test 67.1 / 63.5 %, 11.3 %
    ("r10", "dev"): ({"pt-BR": 0.69, "en-US": 0.69}, 0.10),
    ("r10", "test"): ({"pt-BR": 0.68, "en-US": 0.61}, 0.12),  # round 11: 70.6 / 64.9 %, 10.1 %
    # r11 (a construction and real-estate developer, a regional hospital), scored at
    # import on round 9's code: dev 71.9 / 74.0 %, 5.9 %; test 69.0 / 69.9 %, 11.2 %;
    # not read in round 10 (its dev half's totals chose the training material; one
    # dev sentence seen in a listing); after round 10: dev 70.8 / 75.0 %, 5.4 %; test 70.1 / 71.1 %, 8.8 %;
    # its dev half tuned on in round 11: dev 80.9 / 79.2 %, 2.2 %; test 72.4 / 69.9 %, 7.1 %
    # round 13's training material (every kind said in many trades' words) cost r11
    # wrong actions while the other batches gained: dev 4.3 %, test 7.6 % (from 5.3 %)
    ("r11", "dev"): ({"pt-BR": 0.78, "en-US": 0.76}, 0.05),
    ("r11", "test"): ({"pt-BR": 0.70, "en-US": 0.68}, 0.08),  # round 12: 73.6 / 71.1 %, 5.3 %
    # r12 (a supermarket chain in pt-BR, a food-processing plant in en-US), scored at
    # import on round 10's last rules, before any change: dev 66.3 / 69.5 %, 12.3 %;
    # test 73.9 / 68.8 %, 11.9 % (round 11's blind-before); after round 11: dev 75.0 /
    # 73.7 %, 7.0 %; test 73.9 / 70.0 %, 11.3 %
    ("r12", "dev"): ({"pt-BR": 0.72, "en-US": 0.71}, 0.09),
    ("r12", "test"): ({"pt-BR": 0.71, "en-US": 0.67}, 0.08),  # round 12: 72.7 / 68.8 %, 6.0 %
    # r13 (an insurance brokerage in pt-BR, a home-services company in en-US), scored
    # at import on round 11's last rules, before any change: dev 65.9 / 64.5 %, 11.0 %;
    # test 61.6 / 65.1 %, 12.8 % (round 12's blind-before; round 10's last rules score
    # it the same)
    # its dev half tuned on in round 12: dev 72.7 / 71.0 %, 6.1 %; test 62.8 / 62.8 %, 11.6 %
    ("r13", "dev"): ({"pt-BR": 0.70, "en-US": 0.68}, 0.08),
    ("r13", "test"): ({"pt-BR": 0.60, "en-US": 0.60}, 0.13),
    # r14 (written after round 12; organisations the writers chose and did not report),
    # scored at import on round 12's last rules, before any change: dev 72.9 / 69.8 %,
    # 8.4 %; test 65.9 / 65.9 %, 11.4 % (round 13's blind-before); its dev half tuned
    # on in round 13: dev 77.1 / 72.6 %, 4.5 %; test 63.7 / 69.4 %, 9.1 %
    ("r14", "dev"): ({"pt-BR": 0.75, "en-US": 0.70}, 0.06),
    ("r14", "test"): ({"pt-BR": 0.61, "en-US": 0.67}, 0.11),
    # r15 (written during round 13 by two more writers who reported only counts),
    # scored at import on round 13's last rules: dev 60.0 / 66.7 %, 6.3 %; test 62.6 /
    # 63.1 %, 6.9 % (round 14's blind-before; round 12's last rules: dev 62.4 / 67.8 %,
    # 7.4 %; test 61.5 / 67.9 %, 6.3 %)
    ("r15", "dev"): ({"pt-BR": 0.58, "en-US": 0.64}, 0.08),
    ("r15", "test"): ({"pt-BR": 0.60, "en-US": 0.61}, 0.09),
    # r16 (written after round 13's last change, by two more writers), scored at
    # import on round 13's last rules: dev 70.7 / 61.9 %, 8.4 %; test 56.5 / 67.9 %,
    # 8.7 % (round 12's last rules: dev 70.7 / 62.9 %, 8.4 %; test 54.3 / 66.7 %, 8.7 %)
    ("r16", "dev"): ({"pt-BR": 0.68, "en-US": 0.59}, 0.10),
    ("r16", "test"): ({"pt-BR": 0.54, "en-US": 0.65}, 0.10),
    # r17 (a water and sewage utility in pt-BR, a regional airport authority in
    # en-US; written at the start of round 14), scored at import on round 13's last
    # rules: dev 61.5 / 63.5 %, 9.7 %; test 67.8 / 72.5 %, 6.2 % (round 14's
    # blind-before, with r15 and r16)
    ("r17", "dev"): ({"pt-BR": 0.59, "en-US": 0.61}, 0.11),
    ("r17", "test"): ({"pt-BR": 0.65, "en-US": 0.70}, 0.08),
    # r18 (an electronic security company in pt-BR, a county parks and recreation
    # department in en-US; written at the start of round 15), scored at import on
    # af7d3d4: dev 69.2 / 60.3 %, 5.1 %; test 70.8 / 71.6 %, 6.6 % (round 15's
    # blind-before); after round 15: dev 73.1 / 64.1 %, 4.5 %; test unchanged
    ("r18", "dev"): ({"pt-BR": 0.70, "en-US": 0.60}, 0.06),
    ("r18", "test"): ({"pt-BR": 0.68, "en-US": 0.69}, 0.08),
    # r19 (the product's own corpus directories again, as in r1, by two more writers
    # who saw only the directory and the brief) and r20 (ordinary companies written
    # by their writers: a plastic packaging maker in pt-BR, a solar installer in
    # en-US), scored at import on 2b6f709 (round 16's blind-before): r19 dev 88.5 /
    # 88.4 %, 3.9 %; test 88.9 / 90.2 %, 2.3 %; r20 dev 80.0 / 66.7 %, 6.9 %; test
    # 85.7 / 72.3 %, 5.4 %; after rounds 16 and 17: r19 dev 97.7 / 94.7 %, 2.2 %;
    # test 91.1 / 90.2 %, 2.3 %; r20 dev 86.3 / 75.3 %, 5.9 %; test unchanged
    ("r19", "dev"): ({"pt-BR": 0.96, "en-US": 0.93}, 0.03),
    ("r19", "test"): ({"pt-BR": 0.90, "en-US": 0.89}, 0.03),
    ("r20", "dev"): ({"pt-BR": 0.85, "en-US": 0.74}, 0.065),
    ("r20", "test"): ({"pt-BR": 0.84, "en-US": 0.70}, 0.06),
    # r21 (the product's corpus directories a third time, two more writers) and r22
    # (a gym chain in pt-BR, a printing and signage company in en-US), written after
    # round 16's rules, scored at import on 97f24bc (round 17's blind-before): r21
    # dev 89.0 / 91.0 %, 3.0 %; test 84.5 / 84.3 %, 5.4 %; r22 dev 80.0 / 80.2 %,
    # 6.6 %; test 77.4 / 72.4 %, 9.4 % (on 2b6f709, before round 16: r21 test 83.3 /
    # 83.3 %, 5.9 %; r22 test 75.0 / 71.3 %, 9.9 %); after round 17: r21 dev 94.5 /
    # 97.4 %, 2.4 %; r22 dev 80.0 / 83.5 %, 5.5 %; both test halves unchanged
    # round 23: "o joao batista do almoxarifado" offers the one João here (labelled the
    # reception by r21's writer; r24, r28 and r34's wanted the namesake of that department)
    ("r21", "dev"): ({"pt-BR": 0.92, "en-US": 0.96}, 0.03),
    ("r21", "test"): ({"pt-BR": 0.83, "en-US": 0.83}, 0.06),
    ("r22", "dev"): ({"pt-BR": 0.78, "en-US": 0.82}, 0.06),
    ("r22", "test"): ({"pt-BR": 0.75, "en-US": 0.71}, 0.10),
    # r23 (the product's corpus directories a fourth time) and r24 (a chain of
    # building-material stores in pt-BR, a moving and storage company in en-US),
    # written after round 17's rules, scored at import on c667a1c: r23 dev 83.2 /
    # 89.9 %, 4.5 %; test 88.2 / 87.0 %, 4.3 %; r24 dev 74.5 / 68.5 %, 4.6 %; test
    # 72.4 / 66.3 %, 7.9 % (on 2b6f709: r23 test 86.0 / 87.0 %, 4.3 %; r24 test
    # 68.4 / 65.2 %, 9.1 %)
    ("r23", "dev"): ({"pt-BR": 0.82, "en-US": 0.88}, 0.05),
    ("r23", "test"): ({"pt-BR": 0.87, "en-US": 0.84}, 0.05),
    ("r24", "dev"): ({"pt-BR": 0.73, "en-US": 0.67}, 0.05),
    ("r24", "test"): ({"pt-BR": 0.71, "en-US": 0.65}, 0.085),
    # r25 (the product's corpus directories a fifth time) and r26 (a chain of
    # clinical laboratories in pt-BR, a pest control and lawn care company in en-US),
    # written at round 19's start, scored at import on 94f5477: r25 dev 83.2 / 82.3 %,
    # 5.2 %; test 90.6 / 87.5 %, 4.2 %; r26 dev 67.4 / 70.9 %, 10.5 %; test 65.5 /
    # 67.3 %, 8.0 %
    ("r25", "dev"): ({"pt-BR": 0.88, "en-US": 0.86}, 0.045),
    ("r25", "test"): ({"pt-BR": 0.90, "en-US": 0.88}, 0.045),
    ("r26", "dev"): ({"pt-BR": 0.68, "en-US": 0.72}, 0.10),
    ("r26", "test"): ({"pt-BR": 0.65, "en-US": 0.67}, 0.075),
    # r27 (the product's corpus directories a sixth time) and r28 (a pharmacy chain in
    # pt-BR, a credit union in en-US), written after round 19's rules, scored at
    # import on ea1e1cf: r27 dev 86.2 / 80.6 %, 4.5 %; test 85.9 / 87.5 %, 3.9 %; r28
    # dev 67.4 / 68.6 %, 6.2 %; test 71.4 / 68.8 %, 6.2 % (on 94f5477, before round
    # 19: r27 dev 83.8 / 80.6 %, 5.6 %; the rest the same)
    ("r27", "dev"): ({"pt-BR": 0.91, "en-US": 0.86}, 0.04),
    ("r27", "test"): ({"pt-BR": 0.85, "en-US": 0.87}, 0.045),
    ("r28", "dev"): ({"pt-BR": 0.72, "en-US": 0.70}, 0.045),
    ("r28", "test"): ({"pt-BR": 0.71, "en-US": 0.68}, 0.07),
    # r29 (the product's corpus directories a seventh time) and r30 (a private
    # university in pt-BR, a dental group practice in en-US), written after round 20's
    # rules, scored at import on 0b1209e: r29 dev 85.6 / 80.5 %, 4.1 %; test 83.7 /
    # 89.5 %, 3.3 %; r30 dev 76.3 / 69.6 %, 6.4 %; test 72.1 / 63.6 %, 8.1 %
    ("r29", "dev"): ({"pt-BR": 0.85, "en-US": 0.80}, 0.045),
    ("r29", "test"): ({"pt-BR": 0.83, "en-US": 0.89}, 0.035),
    ("r30", "dev"): ({"pt-BR": 0.76, "en-US": 0.69}, 0.065),
    ("r30", "test"): ({"pt-BR": 0.72, "en-US": 0.63}, 0.085),
    # r31 (the product's corpus directories an eighth time) and r32 (a toll-road
    # concessionaire in pt-BR, a hotel management company in en-US), written after
    # round 21, scored at import on 9057025 and not tuned on (neither half read): r31
    # dev 91.1 / 87.0 %, 4.7 %; test 86.1 / 86.2 %, 3.6 %; r32 dev 63.9 / 65.3 %, 9.0 %;
    # test 72.3 / 68.7 %, 9.0 % (on 94f5477, the session's start: r31 whole 307 right,
    # 18 wrong actions, now 315 and 15; r32 237 and 33, now 240 and 32)
    ("r31", "dev"): ({"pt-BR": 0.91, "en-US": 0.86}, 0.05),
    ("r31", "test"): ({"pt-BR": 0.86, "en-US": 0.86}, 0.04),
    ("r32", "dev"): ({"pt-BR": 0.63, "en-US": 0.65}, 0.095),
    ("r32", "test"): ({"pt-BR": 0.72, "en-US": 0.68}, 0.095),
    # r33, r35 (the product's corpus directories a ninth and tenth time), r34 (a car
    # dealership group in pt-BR, a veterinary hospital in en-US) and r36 (a condominium
    # management and real-estate agency, an intercity bus company), written after round
    # 21, scored at import on 4c8bcc7 (round 22 was tuned on r31/r32 only): r33 test
    # 89.7 / 88.4 %, 3.1 %; r34 test 64.7 / 64.0 %, 7.6 %; r35 test 86.2 / 82.2 %, 4.8 %;
    # r36 test 64.0 / 51.3 %, 10.2 %
    ("r33", "dev"): ({"pt-BR": 0.92, "en-US": 0.87}, 0.03),
    ("r33", "test"): ({"pt-BR": 0.89, "en-US": 0.88}, 0.035),
    ("r34", "dev"): ({"pt-BR": 0.62, "en-US": 0.71}, 0.095),
    ("r34", "test"): ({"pt-BR": 0.64, "en-US": 0.63}, 0.08),
    ("r35", "dev"): ({"pt-BR": 0.86, "en-US": 0.92}, 0.04),
    ("r35", "test"): ({"pt-BR": 0.86, "en-US": 0.84}, 0.05),
    ("r36", "dev"): ({"pt-BR": 0.67, "en-US": 0.76}, 0.08),
    ("r36", "test"): ({"pt-BR": 0.64, "en-US": 0.52}, 0.10),
    # r37, r39 (the product's corpus directories an eleventh and twelfth time), r38 (a
    # health insurance operator in pt-BR, a school district's central office in en-US)
    # and r40 (a municipal water and sewage company, a grocery chain's headquarters),
    # written after round 22, scored at import on ca1159b (round 22's last commit): r37
    # test 84.9 / 87.9 %, 3.8 %; r38 test 68.7 / 65.0 %, 9.5 %; r39 test 85.1 / 89.1 %,
    # 1.6 %; r40 test 71.0 / 63.9 %, 5.2 %
    ("r37", "dev"): ({"pt-BR": 0.87, "en-US": 0.88}, 0.030),
    ("r37", "test"): ({"pt-BR": 0.86, "en-US": 0.87}, 0.045),
    ("r38", "dev"): ({"pt-BR": 0.70, "en-US": 0.66}, 0.075),
    ("r38", "test"): ({"pt-BR": 0.68, "en-US": 0.65}, 0.100),
    ("r39", "dev"): ({"pt-BR": 0.81, "en-US": 0.94}, 0.045),
    ("r39", "test"): ({"pt-BR": 0.85, "en-US": 0.89}, 0.020),
    ("r40", "dev"): ({"pt-BR": 0.75, "en-US": 0.69}, 0.080),
    ("r40", "test"): ({"pt-BR": 0.71, "en-US": 0.63}, 0.055),
    # r41, r43 (the product's corpus directories a thirteenth and fourteenth time),
    # r42 (a chain of language schools in pt-BR, a rural electric cooperative in en-US)
    # and r44 (a residential builder and developer, a home health care agency), written
    # after round 23, scored at import on ef0c6f1 (round 23's last commit): r41 test
    # 90.5 / 82.4 %, 4.8 %; r42 test 68.1 / 63.4 %, 13.3 %; r43 test 89.9 / 86.2 %,
    # 3.0 %; r44 test 71.2 / 65.3 %, 11.6 %
    ("r41", "dev"): ({"pt-BR": 0.88, "en-US": 0.91}, 0.045),
    ("r41", "test"): ({"pt-BR": 0.90, "en-US": 0.82}, 0.055),
    ("r42", "dev"): ({"pt-BR": 0.66, "en-US": 0.72}, 0.055),
    ("r42", "test"): ({"pt-BR": 0.68, "en-US": 0.64}, 0.140),
    ("r43", "dev"): ({"pt-BR": 0.84, "en-US": 0.86}, 0.055),
    ("r43", "test"): ({"pt-BR": 0.89, "en-US": 0.86}, 0.035),
    ("r44", "dev"): ({"pt-BR": 0.70, "en-US": 0.53}, 0.065),
    ("r44", "test"): ({"pt-BR": 0.71, "en-US": 0.65}, 0.120),
    # r45, r47 (the product's corpus directories a fifteenth and sixteenth time), r46 (a
    # freight carrier and logistics operator in pt-BR, a city government's main line in
    # en-US) and r48 (a clinic-management software company, a commercial HVAC, plumbing
    # and electrical contractor), written after round 24, scored at import on 33bf643
    # (round 24's last commit): r45 test 83.7 / 86.2 %, 4.5 %; r46 test 69.6 / 60.8 %,
    # 8.2 %; r47 test 86.0 / 84.6 %, 3.4 %; r48 test 72.7 / 67.4 %, 10.3 %
    ("r45", "dev"): ({"pt-BR": 0.88, "en-US": 0.84}, 0.035),
    ("r45", "test"): ({"pt-BR": 0.83, "en-US": 0.86}, 0.050),
    ("r46", "dev"): ({"pt-BR": 0.60, "en-US": 0.80}, 0.060),
    ("r46", "test"): ({"pt-BR": 0.69, "en-US": 0.60}, 0.085),
    ("r47", "dev"): ({"pt-BR": 0.90, "en-US": 0.90}, 0.045),
    ("r47", "test"): ({"pt-BR": 0.86, "en-US": 0.84}, 0.040),
    ("r48", "dev"): ({"pt-BR": 0.72, "en-US": 0.73}, 0.075),
    ("r48", "test"): ({"pt-BR": 0.72, "en-US": 0.68}, 0.110),
    # r49, r51 (the product's corpus directories a seventeenth and eighteenth time), r50
    # (an agricultural cooperative in pt-BR, a regional airport authority in en-US) and
    # r52 (a publisher and bookshop, a property and casualty insurance agency), written
    # after round 25, scored at import on f266539 (round 25's last commit): r49 test
    # 84.9 / 82.0 %, 4.0 %; r50 test 67.7 / 75.9 %, 4.1 %; r51 test 85.5 / 78.8 %, 5.5 %;
    # r52 test 63.8 / 75.3 %, 8.6 %
    ("r49", "dev"): ({"pt-BR": 0.86, "en-US": 0.87}, 0.035),
    ("r49", "test"): ({"pt-BR": 0.84, "en-US": 0.82}, 0.045),
    ("r50", "dev"): ({"pt-BR": 0.76, "en-US": 0.71}, 0.070),
    ("r50", "test"): ({"pt-BR": 0.67, "en-US": 0.75}, 0.045),
    ("r51", "dev"): ({"pt-BR": 0.89, "en-US": 0.91}, 0.055),
    ("r51", "test"): ({"pt-BR": 0.85, "en-US": 0.78}, 0.060),
    ("r52", "dev"): ({"pt-BR": 0.76, "en-US": 0.63}, 0.065),
    ("r52", "test"): ({"pt-BR": 0.63, "en-US": 0.75}, 0.090),
}


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("understanding_bench", ROOT / "benchmarks" / "understanding_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("understanding_bench", module)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


def test_corpus_is_large_and_covers_every_kind() -> None:
    items = BENCH.load_items(BENCH.SPLITS)
    assert len(items) >= 400
    langs = {i.lang for i in items}
    assert langs == {"pt-BR", "en-US"}
    kinds = {i.kind for i in items}
    assert {"person", "department", "topic", "callback", "negated_callback", "operator", "ambiguous_name",
            "unknown_surname", "menu_key", "goodbye", "out_of_scope", "resemblance", "explicit_vs_generic"} <= kinds
    assert {i.expect for i in items} == {"transfer", "ask", "callback", "operator", "reask", "goodbye", "repeat"}
    texts = [(i.lang, i.text) for i in items]
    assert len(texts) == len(set(texts)), "a sentence is in the corpus twice"
    # every label names a destination of its directory
    dirs = BENCH.load_directories()
    for i in items:
        for name in ([i.to] if i.to else []) + list(i.options):
            assert name in dirs[i.lang].destinations, (i.text, name)


@pytest.mark.parametrize(("batch", "split"), sorted(BLIND_FLOORS))
def test_blind_batch_floor(batch: str, split: str) -> None:
    """A blind batch's half: accuracy per language and the wrong-action rate. A
    test half's sentences are not printed (they stay unread); the figures are."""
    floors, max_wrong = BLIND_FLOORS[(batch, split)]
    result = BENCH.evaluate(BENCH.load_items([split], batch), directories=BENCH.load_directories(batch))
    figures = {lang: cell["accuracy"] for lang, cell in result["languages"].items()}
    shown = "\n".join(f"  {e['lang']} {e['text']!r}: expected {e['expected']}, got {e['got']}"
                       for e in result["errors"]) if split == "dev" else "(test half: sentences not shown)"
    for lang, floor in floors.items():
        assert figures[lang] >= floor, f"{batch} {split} {lang}: {figures[lang]:.1%} < {floor:.0%}\n{shown}"
    wrong = result["wrong_actions"]
    assert wrong["rate"] <= max_wrong, f"{batch} {split}: wrong actions {wrong}\n{shown}"


def test_blind_batches_are_split_and_labelled() -> None:
    """Every imported batch: its halves are the split the hash gives, every label
    names a destination of the batch's directory, and each half has both languages."""
    for batch in BENCH.batches()[1:]:
        dirs = BENCH.load_directories(batch)
        for split in BENCH.SPLITS:
            items = BENCH.load_items([split], batch)
            assert {i.lang for i in items} == {"pt-BR", "en-US"}, (batch, split)
            for i in items:
                assert BENCH.split_of(i.lang, i.text) == split, (batch, i.text)
                for name in ([i.to] if i.to else []) + list(i.options):
                    assert name in dirs[i.lang].destinations, (batch, i.text, name)
    assert {(batch, "test") for batch in BENCH.batches()[1:]} <= set(BLIND_FLOORS)


def test_wrong_action_types() -> None:
    """The judge names a wrong decisive action by what was done instead of what."""
    t = BENCH.Item("pt-BR", "topic", "x", "transfer", to="Financeiro")
    assert BENCH.wrong_action(t, {"do": "transfer", "to": "Comercial"}) == "wrong_transfer"
    assert BENCH.wrong_action(t, {"do": "callback", "to": "Financeiro"}) == "callback_instead_of_transfer"
    assert BENCH.wrong_action(t, {"do": "ask", "options": ["Financeiro", "Comercial"]}) is None
    cb = BENCH.Item("en-US", "callback", "x", "callback", to="Billing")
    assert BENCH.wrong_action(cb, {"do": "transfer", "to": "Billing"}) == "transfer_instead_of_callback"
    assert BENCH.wrong_action(cb, {"do": "callback", "to": None}) == "wrong_callback"
    bye = BENCH.Item("en-US", "goodbye", "x", "goodbye")
    assert BENCH.wrong_action(bye, {"do": "callback", "to": None}) == "callback_instead_of_goodbye"
    assert BENCH.wrong_action(bye, {"do": "goodbye"}) is None


def test_questions_naming_the_right_one() -> None:
    """A question instead of the right transfer is counted apart when it names the
    right destination; it stays not right."""
    t = BENCH.Item("pt-BR", "topic", "x", "transfer", to="Financeiro")
    assert BENCH.offers_right(t, {"do": "ask", "options": ["Comercial", "Financeiro"]})
    assert not BENCH.offers_right(t, {"do": "ask", "options": ["Comercial", "Suporte"]})
    assert not BENCH.offers_right(t, {"do": "reask"})
    assert not BENCH.offers_right(t, {"do": "transfer", "to": "Financeiro"})
    assert not BENCH.is_right(t, {"do": "ask", "options": ["Comercial", "Financeiro"]})
    ask = BENCH.Item("pt-BR", "person", "maria", "ask", options=("Maria Silva", "Maria Souza"))
    assert not BENCH.offers_right(ask, {"do": "ask", "options": ["Maria Silva", "Maria Souza"]})


@pytest.mark.parametrize("split", ["dev", "test"])
def test_accuracy_floor(split: str) -> None:
    result = BENCH.evaluate(BENCH.load_items([split]))
    wrong = "\n".join(f"  {e['lang']} {e['text']!r}: expected {e['expected']}, got {e['got']}"
                      for e in result["errors"])
    for lang in ("pt-BR", "en-US"):
        acc = result["languages"][lang]["accuracy"]
        assert acc >= FLOOR, f"{split} {lang}: {acc:.1%} < {FLOOR:.0%}\n{wrong}"
    assert result["wrong_where_question"] <= MAX_WRONG_WHERE_QUESTION[split], wrong


def test_judge_is_strict() -> None:
    """The benchmark's judge: a transfer elsewhere, an extra option, a question
    instead of the transfer are all wrong."""
    item = BENCH.Item("pt-BR", "person", "maria", "ask", options=("Maria Silva", "Maria Souza"))
    assert BENCH.is_right(item, {"do": "ask", "options": ["Maria Silva", "Maria Souza"]})
    assert not BENCH.is_right(item, {"do": "ask", "options": ["Maria Silva", "Ana Paula Costa"]})
    assert not BENCH.is_right(item, {"do": "transfer", "to": "Maria Silva"})
    t = BENCH.Item("pt-BR", "topic", "x", "transfer", to="Financeiro")
    assert not BENCH.is_right(t, {"do": "transfer", "to": "Comercial"})
    assert not BENCH.is_right(t, {"do": "ask", "options": ["Financeiro", "Comercial"]})
    cb = BENCH.Item("pt-BR", "callback", "x", "callback", to="Financeiro")
    assert not BENCH.is_right(cb, {"do": "callback", "to": None})


# The rules with the keywords a model suggested for each department of the fresh
# batches' directories (tests/understanding/suggested_keywords/, as `destinations
# suggest-keywords` adds them; round 14, benchmarks/README.md): (batch, half) ->
# (least right per language, most wrong actions), a little under what was measured
# (r15 test 68.1 / 77.4 %, 8.6 %; r16 test 68.5 / 76.5 %, 4.6 %; r17 test 80.5 /
# 84.6 %, 5.6 %).
SUGGESTED_FLOORS: dict[tuple[str, str], tuple[dict[str, float], float]] = {
    ("r15", "dev"): ({"pt-BR": 0.74, "en-US": 0.71}, 0.05),
    ("r15", "test"): ({"pt-BR": 0.66, "en-US": 0.75}, 0.095),
    ("r16", "dev"): ({"pt-BR": 0.80, "en-US": 0.70}, 0.075),
    ("r16", "test"): ({"pt-BR": 0.66, "en-US": 0.74}, 0.055),
    ("r17", "dev"): ({"pt-BR": 0.73, "en-US": 0.68}, 0.075),
    ("r17", "test"): ({"pt-BR": 0.78, "en-US": 0.82}, 0.065),
    # round 15: r18, suggested by one more model instance at the round's start (blind-
    # before on af7d3d4: dev 82.0 / 66.7 %, 4.5 %; test 78.1 / 77.5 %, 4.5 %); after
    # round 15: dev 85.9 / 71.8 %, 3.9 %; test unchanged
    ("r18", "dev"): ({"pt-BR": 0.83, "en-US": 0.68}, 0.045),
    ("r18", "test"): ({"pt-BR": 0.76, "en-US": 0.75}, 0.055),
    # round 16: r19 and r20, suggested by two more model instances at the round's
    # start (blind-before on 2b6f709: r19 dev 87.4 / 89.5 %, 4.4 %; test 86.7 /
    # 91.5 %, 2.9 %; r20 dev 81.0 / 77.4 %, 2.1 %; test 86.9 / 78.3 %, 4.8 %)
    # (after rounds 16 and 17: r19 dev 95.4 / 94.7 %, 2.7 %; test 88.9 / 91.5 %,
    # 2.3 %; r20 dev 85.3 / 84.9 %, 2.1 %; test 86.9 / 79.5 %, 4.8 %)
    ("r19", "dev"): ({"pt-BR": 0.94, "en-US": 0.93}, 0.03),
    ("r19", "test"): ({"pt-BR": 0.87, "en-US": 0.90}, 0.03),
    ("r20", "dev"): ({"pt-BR": 0.84, "en-US": 0.83}, 0.03),
    ("r20", "test"): ({"pt-BR": 0.85, "en-US": 0.78}, 0.055),
    # round 17: r21 and r22, suggested by two more instances at the round's start
    # (blind-before on 97f24bc: r21 test 84.5 / 85.3 %, 3.8 %; r22 test 82.1 / 79.3 %,
    # 8.2 %)
    # (after round 17: r21 dev 94.5 / 94.9 %, 2.4 %; r22 dev 87.8 / 85.7 %, 6.6 %)
    ("r21", "dev"): ({"pt-BR": 0.92, "en-US": 0.93}, 0.03),  # round 23, as above
    ("r21", "test"): ({"pt-BR": 0.83, "en-US": 0.84}, 0.045),
    ("r22", "dev"): ({"pt-BR": 0.86, "en-US": 0.84}, 0.07),
    ("r22", "test"): ({"pt-BR": 0.80, "en-US": 0.78}, 0.09),
    # round 18: r23 and r24, suggested by two more instances (blind-before on c667a1c:
    # r23 test 87.1 / 85.9 %, 5.4 %; r24 test 80.3 / 70.8 %, 7.9 %)
    ("r23", "dev"): ({"pt-BR": 0.85, "en-US": 0.88}, 0.05),
    ("r23", "test"): ({"pt-BR": 0.85, "en-US": 0.83}, 0.06),
    ("r24", "dev"): ({"pt-BR": 0.85, "en-US": 0.73}, 0.085),
    ("r24", "test"): ({"pt-BR": 0.79, "en-US": 0.69}, 0.085),
    # 2026-12-08 (round 22): r26-r36, the invented directories of rounds 19-22, suggested by
    # four more instances given only the request files (`/work/kwreq/BRIEF.md`: the
    # product's keywords prompt and the listing); names the resolver reads as departments
    # that are people emptied, as in round 14. Figures on ca1159b (round 22's rules)
    ("r26", "dev"): ({"pt-BR": 0.70, "en-US": 0.82}, 0.085),
    ("r26", "test"): ({"pt-BR": 0.75, "en-US": 0.72}, 0.070),
    ("r28", "dev"): ({"pt-BR": 0.79, "en-US": 0.76}, 0.065),
    ("r28", "test"): ({"pt-BR": 0.80, "en-US": 0.75}, 0.055),
    ("r30", "dev"): ({"pt-BR": 0.80, "en-US": 0.75}, 0.075),
    ("r30", "test"): ({"pt-BR": 0.75, "en-US": 0.70}, 0.120),
    ("r32", "dev"): ({"pt-BR": 0.79, "en-US": 0.77}, 0.060),
    ("r32", "test"): ({"pt-BR": 0.77, "en-US": 0.74}, 0.090),
    ("r34", "dev"): ({"pt-BR": 0.73, "en-US": 0.76}, 0.085),
    ("r34", "test"): ({"pt-BR": 0.69, "en-US": 0.68}, 0.085),
    ("r36", "dev"): ({"pt-BR": 0.73, "en-US": 0.80}, 0.075),
    ("r36", "test"): ({"pt-BR": 0.69, "en-US": 0.61}, 0.135),
}


@pytest.mark.parametrize(("batch", "split"), sorted(SUGGESTED_FLOORS))
def test_suggested_keywords_floor(batch: str, split: str) -> None:
    floors, max_wrong = SUGGESTED_FLOORS[(batch, split)]
    dirs = BENCH.load_directories(batch, BENCH.CORPUS / "suggested_keywords")
    result = BENCH.evaluate(BENCH.load_items([split], batch), directories=dirs)
    for lang, floor in floors.items():
        assert result["languages"][lang]["accuracy"] >= floor, (lang, result["languages"][lang])
    assert result["wrong_actions"]["rate"] <= max_wrong, result["wrong_actions"]
