"""The judgements: one rule per question, owned by one module, read by every command.

=================  ====================================  =======================================
question           owner                                 read by
=================  ====================================  =======================================
best step, glitch  :mod:`tunebook.core.score`            worker, rescore, curves
instability        :mod:`.instability`                   analyze (curves), stability, baseline,
                                                         advise, checklist, report, MCP
training length    :mod:`.length`                        analyze, checklist, advise, report, MCP
overfitting        :mod:`.overfit`                       analyze, checklist, report, MCP
boundary           :mod:`tunebook.analysis.axes`         analyze, checklist, advise, report, MCP
label quality      :mod:`.labels`                        errors, checklist, advise, report, MCP
=================  ====================================  =======================================

Every threshold is read against the data's own noise: an eval's standard error is the larger of
the binomial SE of an accuracy on the eval set (its size logged as ``dev/examples``) and the
curve's robust scatter (:func:`tunebook.core.score.point_noise`).
"""

from tunebook.analysis.judgements.instability import LossReading, read_loss
from tunebook.analysis.judgements.length import LengthVerdict, round_length, trial_length
from tunebook.analysis.judgements.overfit import OverfitReading, read_overfit

__all__ = ["LengthVerdict", "LossReading", "OverfitReading", "read_loss", "read_overfit",
           "round_length", "trial_length"]
