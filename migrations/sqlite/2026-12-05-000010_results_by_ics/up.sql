-- The microdata download reads a survey's results one ICS at a time, twice
-- (to weight and coarsen, then to write): an index in that order lets each
-- ICS be read directly instead of scanning every row of the survey for
-- each of the 42 ICSs.
CREATE INDEX response_results_by_survey_ics ON response_results (survey_id, ics_code, response_id);
