-- Releases are read by submission day: with the response id in the index,
-- a survey's rows per day, and each day's first and last response, come
-- from the index alone, so a release knows its rows' id range and count
-- without scanning the table.
DROP INDEX response_results_by_survey;
CREATE INDEX response_results_by_survey ON response_results (survey_id, submitted_on, response_id);
