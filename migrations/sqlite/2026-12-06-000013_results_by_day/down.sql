DROP INDEX response_results_by_survey;
CREATE INDEX response_results_by_survey ON response_results (survey_id, submitted_on);
