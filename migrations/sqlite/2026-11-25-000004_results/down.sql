DROP TABLE scoring_runs;
DROP TABLE response_results;
