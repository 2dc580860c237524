-- The next renewal as the health engine knew it on the day it scored (day number, as
-- `day`): with the score, what the churn forecast reads (docs/forecasts.md).
ALTER TABLE health_scores ADD COLUMN next_renewal INTEGER;
