"""Jobs: discovery scans, provisioning runs and commands on Celery (Django app label 'jobs')."""
