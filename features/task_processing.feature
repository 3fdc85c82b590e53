# language: zh-TW
功能: 任務處理
  作為系統
  我需要處理任務的整個生命週期
  為了確保任務正確執行

  場景: 成功執行任務並呼叫 Callback
    假設 存在狀態為 "Pending" 的任務
    而且 Callback API 可以正常回應
    當 我執行任務
    那麼 任務狀態應該更新為 "Completed"
    而且 Callback API 應該被呼叫一次
    而且 任務應該被搬移到封存表

  場景: Callback API 呼叫失敗
    假設 存在狀態為 "Pending" 的任務
    而且 Callback API 回應錯誤
    當 我執行任務
    那麼 任務狀態應該更新為 "Failed"
    而且 錯誤資訊應該被記錄

  場景: Callback API 無法連線
    假設 存在狀態為 "Pending" 的任務
    而且 Callback API 無法連線
    當 我執行任務
    那麼 任務狀態應該更新為 "Failed"
    而且 錯誤資訊應該被記錄

  場景: 失敗的任務可以重新執行
    假設 存在狀態為 "Failed" 的任務
    而且 Callback API 回應錯誤
    當 我執行任務
    那麼 任務狀態應該更新為 "Failed"
    而且 任務已嘗試 2 次

  場景: 非同步執行任務
    假設 存在狀態為 "Pending" 的任務
    而且 Callback API 可以正常回應
    當 我以非同步方式執行任務
    那麼 回應狀態碼應該是 202
    而且 回應中的任務狀態是 "Processing"
    而且 任務最後應該成為 "Completed"
    而且 Callback API 應該被呼叫一次

  場景: Callback API 稍後回報結果
    假設 存在狀態為 "Pending" 的任務
    而且 Callback API 回應 202 並稍後回報結果
    當 我執行任務
    那麼 任務狀態應該更新為 "Processing"
    當 Callback API 以它收到的權杖回報成功
    那麼 任務狀態應該更新為 "Completed"
    而且 任務應該被搬移到封存表

  場景: 沒有正確權杖的回報被拒絕
    假設 存在狀態為 "Pending" 的任務
    而且 Callback API 回應 202 並稍後回報結果
    當 我執行任務
    而且 有人以錯誤的權杖回報成功
    那麼 回應狀態碼應該是 403
    而且 任務狀態應該仍是 "Processing"
