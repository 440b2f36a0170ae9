"""The question suite: practitioner questions on bills the agent has never seen, scored
correct / clarified / wrong against truths computed by SQL over the raw files.

* `datasets.py` — the datasets (a real AWS CUR, the FOCUS sample, the generated Granite
  Industries in `company.py`), how each is loaded (`finops ingest`, as a user would), and the
  `bill` view over the raw file that states every definition the truths use;
* `tuning/*.yaml`, `holdout/*.yaml`, `fresh/*.yaml` — the questions (`schema.py`); the holdout
  (about a quarter of each dataset and kind) and the fresh split (written after tuning) measure
  generality;
* `truth.py` — a question's truth as SQL; `answer.py` + `scorer.py` — reading an answer by the
  answer-format contract and scoring it; `runner.py` — asking through the real runtime;
  `scorecard.py` — tallies, the committed `baseline.json` and the regression gate.

`finops eval --suite questions [--dataset NAME] [--split tuning|holdout|fresh] [--json] [--out FILE]
[--write-baseline]`.
"""
