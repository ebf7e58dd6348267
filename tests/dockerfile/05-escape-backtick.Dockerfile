# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
WORKDIR C:\app
COPY app\ C:\app\
RUN powershell -Command `
    Write-Host "line one"; `
    Write-Host "line two"
ENV DIR=C:\data `
    OTHER=`$literal
CMD ["cmd", "/c", "C:\\app\\run.bat"]
